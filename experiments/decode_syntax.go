package experiments

// Syntax-level problems: yaml.v3's parser and scanner errors turned into
// line:col problems, and the limits on hostile documents.

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of yaml.v3's parser (as opposed to its scanner).
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'": true, "did not find expected ',' or '}'": true,
	"did not find expected '-' indicator": true, "did not find expected <document start>": true,
	"did not find expected <stream-start>": true, "did not find expected key": true,
	"did not find expected node content": true, "found duplicate %TAG directive": true,
	"found duplicate %YAML directive": true, "found incompatible YAML document": true,
	"found undefined tag handle": true,
}

// syntaxProblemIn is syntaxProblem that, for yaml.v3's "found character that
// cannot start any token", says when the character is a tab and where.
func syntaxProblemIn(data []byte, err error) *Problem {
	p := syntaxProblem(err)
	if p.Line == 0 || !strings.Contains(p.Message, "cannot start any token") {
		return p
	}
	lines := bytes.Split(data, []byte{'\n'})
	if p.Line > len(lines) {
		return p
	}
	line := lines[p.Line-1]
	if i := bytes.IndexByte(line, '\t'); i >= 0 {
		p.Col = utf8.RuneCount(line[:i]) + 1
		where := "a tab character"
		if len(bytes.TrimLeft(line[:i], " \t")) == 0 {
			where = "a tab in the indentation"
		}
		p.Message = "invalid YAML: " + where + ": YAML indents with spaces only; replace the tab with spaces"
	}
	return p
}

// consequenceOf says that a problem at field follows from the misspelt key.
func consequenceOf(key, field string) string {
	want := field[strings.LastIndexAny(field, ".]")+1:]
	if strings.EqualFold(key, want) {
		return fmt.Sprintf(" (the unknown field %q here is not %q: keys are case-sensitive)", key, want)
	}
	return fmt.Sprintf(" (the unknown field %q here is probably meant as %q)", key, want)
}

func syntaxProblem(err error) *Problem {
	msg := err.Error()
	line := 0
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if parserProblems[msg] {
			// yaml.v3 reports the parser's marks 0-based (its scanner's 1-based); the
			// mark is where the enclosing mapping or list starts, or the problem.
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if strings.Contains(msg, "control characters") || strings.Contains(msg, "invalid Unicode") ||
		strings.Contains(msg, "UTF-") {
		return &Problem{Line: line, Message: "not a YAML document: " + msg}
	}
	return &Problem{Line: line, Message: "invalid YAML: " + msg}
}

func offsetPos(data []byte, off int) (line, col int) {
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}

func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return 0
}

// walkLimits refuses aliases (a billion-laughs document is refused before anything
// expands it), documents nested deeper than maxDepth and more than maxNodes nodes.
func walkLimits(root *yaml.Node) *Problem {
	var (
		count   int
		aliases int
		first   *yaml.Node
		deep    *yaml.Node
	)
	var walk func(n *yaml.Node, depth int) bool
	walk = func(n *yaml.Node, depth int) bool {
		count++
		if count > maxNodes {
			return false
		}
		if depth > maxDepth {
			deep = n
			return false
		}
		if n.Kind == yaml.AliasNode {
			aliases++
			if first == nil {
				first = n
			}
		}
		for _, c := range n.Content {
			if !walk(c, depth+1) {
				return false
			}
		}
		return true
	}
	walk(root, 1)
	switch {
	case deep != nil:
		return &Problem{Line: deep.Line, Col: deep.Column, Message: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	case count > maxNodes:
		return &Problem{Message: fmt.Sprintf("document too large: more than %d nodes", maxNodes)}
	case first != nil:
		return &Problem{Line: first.Line, Col: first.Column, Message: fmt.Sprintf(
			"YAML aliases are not supported (found %d, first *%s); write the values out", aliases, first.Value)}
	}
	return nil
}
