package main

import (
	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/experiments"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the experiment format",
		Long: `Schema prints a JSON Schema (draft 2020-12) of the experiment format, generated
from the Go types and the registered fault, probe and assertion kinds, for editors'
YAML language servers.`,
		Example: `  chaos schema > faultline.schema.json
  # then, first line of an experiment:  # yaml-language-server: $schema=faultline.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := experiments.DefaultRegistries()
			if err != nil {
				return err
			}
			b, err := experiments.Schema(reg)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(append(b, '\n'))
			return err
		},
	}
}
