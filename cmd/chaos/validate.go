package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/experiments"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check experiments without touching anything",
		Long: `Validate decodes and checks every experiment file and reports every problem of
every file at once, as file:line:col: field.path: message. It touches nothing.
Exit 0 when all are valid, 2 otherwise.`,
		Example: `  chaos validate experiments/*.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			reg, err := experiments.DefaultRegistries()
			if err != nil {
				return err
			}
			if _, err := loadAll(files, reg, cmd); err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", f)
			}
			return nil
		},
	}
}

// loadAll loads every file; on any problem it prints all of them and returns an
// exitError with code 2.
func loadAll(files []string, reg experiments.Registries, cmd *cobra.Command) ([]*experiments.Experiment, error) {
	var exps []*experiments.Experiment
	bad := 0
	for _, f := range files {
		e, err := experiments.Load(f, reg)
		if err != nil {
			bad++
			var ve *experiments.ValidationError
			if errors.As(err, &ve) {
				for _, p := range ve.Problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p.String())
				}
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", f, err)
			}
			continue
		}
		exps = append(exps, e)
	}
	if bad > 0 {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("%d of %d files invalid; nothing was run", bad, len(files))}
	}
	return exps, nil
}
