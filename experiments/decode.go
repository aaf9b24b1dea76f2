package experiments

// Decoding an experiment document:
//
//	bytes ─▶ parseDocument (size, binary, empty, several documents, syntax)
//	      ─▶ walkLimits (aliases, depth, node count)
//	      ─▶ decoder.value (one reflective yaml.Node → struct pass: types, unknown keys,
//	         inline fault/probe/assertion keys; remembers path → node)
//	      ─▶ Experiment.check (the same rules as Validate; paths mapped back to nodes)
//	      ─▶ all problems sorted by position, or SetDefaults and the Experiment.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits on hostile input. An experiment is a few hundred nodes.
const (
	maxFileSize = 1 << 20 // bytes
	maxNodes    = 100_000
	maxDepth    = 64
)

// Problem is one thing wrong with an experiment.
type Problem struct {
	File      string
	Line, Col int
	Field     string // e.g. "spec.faults[1].processKill.count"; "" for the whole document
	Message   string
}

// String renders "file:line:col: field.path: message", leaving out what is unknown:
// "file: field: message" when Line is 0.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
	}
	if p.Line > 0 {
		if p.File != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Col))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError holds all problems of one file, in order of position.
type ValidationError struct {
	File     string
	Problems []Problem
}

// Error renders one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads the experiment file at path and Decodes it. An unreadable file is a
// plain error; everything wrong inside it is a *ValidationError.
func Load(path string, reg Registries) (*Experiment, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("loading experiment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("loading experiment %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("loading experiment %s: not a regular file (%s): only regular files are read", path, fileKind(st.Mode()))
	}
	if st.Size() > maxFileSize {
		return nil, &ValidationError{File: path, Problems: []Problem{{File: path,
			Message: fmt.Sprintf("file too large: more than %d bytes", maxFileSize)}}}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("loading experiment %s: %w", path, err)
	}
	return Decode(data, path, reg)
}

// fileKind names a non-regular file type for messages.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.Type().String()
}

// Decode parses one experiment document (YAML, or JSON) read from source (a file name
// for messages). Unknown keys are rejected at every depth, every fault, probe and
// assertion block is decoded into its registered spec and validated, and then the
// rules of Validate apply. On any problem it returns nil and a *ValidationError
// listing ALL problems with line:col; otherwise the experiment, with defaults set.
func Decode(data []byte, source string, reg Registries) (exp *Experiment, err error) {
	defer func() {
		if r := recover(); r != nil { // a bug, or a spec's Validate that panicked
			exp, err = nil, &ValidationError{File: source, Problems: []Problem{
				{File: source, Message: fmt.Sprintf("internal error while decoding: %v", r)}}}
		}
	}()
	root, p := parseDocument(data)
	if p == nil {
		p = walkLimits(root)
	}
	if p != nil {
		p.File = source
		return nil, &ValidationError{File: source, Problems: []Problem{*p}}
	}

	d := newDecoder(source, reg)
	e := &Experiment{}
	d.pos[""] = root
	d.value(root, reflect.ValueOf(e).Elem(), "")
	e.Source = source

	c := &checker{reg: reg,
		lineOf:   func(path string) int { return nodeLine(d.pos[path]) },
		explicit: func(path string) bool { n := d.pos[path]; return n != nil && !isNull(n) },
	}
	e.check(c)
	// Causes first: a problem about something missing sorts after the decoding
	// problems (an unknown key, most often) of the mapping it is missing from.
	type sorted struct {
		Problem
		line, col int
	}
	var all []sorted
	for _, p := range d.problems {
		all = append(all, sorted{p, p.Line, p.Col})
	}
	for _, vp := range c.problems {
		if d.suppressed(vp.Field) {
			continue
		}
		n := d.locate(vp.Field)
		if k := d.misspelt[vp.Field]; k != nil && d.pos[vp.Field] == nil {
			// A consequence of a misspelt key: say so, at the key, after it.
			n = k
			vp.Message += consequenceOf(k.Value, vp.Field)
		}
		vp.File, vp.Line, vp.Col = source, n.Line, n.Column
		sp := sorted{vp, vp.Line, vp.Col}
		if d.pos[vp.Field] == nil {
			at := d.locatedPath(vp.Field)
			for _, p := range d.problems {
				if p.Field == at && (p.Line > sp.line || p.Line == sp.line && p.Col > sp.col) {
					sp.line, sp.col = p.Line, p.Col
				}
			}
		}
		all = append(all, sp)
	}
	if len(all) > 0 {
		sort.SliceStable(all, func(i, j int) bool {
			a, b := all[i], all[j]
			return a.line < b.line || a.line == b.line && a.col < b.col
		})
		problems := make([]Problem, len(all))
		for i, p := range all {
			problems[i] = p.Problem
		}
		return nil, &ValidationError{File: source, Problems: problems}
	}
	e.SetDefaults()
	return e, nil
}

func nodeLine(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// parseDocument returns the top-level mapping of the only document in data, or the
// problem that makes data unusable.
func parseDocument(data []byte) (*yaml.Node, *Problem) {
	if len(data) > maxFileSize {
		return nil, &Problem{Message: fmt.Sprintf("file too large: more than %d bytes", maxFileSize)}
	}
	utf16 := bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE})
	if !utf16 {
		if i := bytes.IndexByte(data, 0); i >= 0 {
			line, col := offsetPos(data, i)
			return nil, &Problem{Line: line, Col: col, Message: "not a YAML document: contains NUL bytes (binary file?)"}
		}
		if !utf8.Valid(data) {
			i := invalidUTF8(data)
			line, col := offsetPos(data, i)
			return nil, &Problem{Line: line, Col: col, Message: "not a YAML document: invalid UTF-8 (binary file?)"}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Problem{Message: "empty document"}
		}
		return nil, syntaxProblemIn(data, err)
	}
	var second *yaml.Node
	count := 1
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxProblemIn(data, err)
		}
		if len(next.Content) == 1 && isNull(next.Content[0]) {
			continue // a trailing "---" or "--- # comment"
		}
		count++
		if second == nil {
			n := next
			second = &n
		}
	}
	if count > 1 {
		return nil, &Problem{Line: second.Line, Col: second.Column,
			Message: fmt.Sprintf("expected one document, found %d (second at line %d)", count, second.Line)}
	}
	if len(doc.Content) != 1 || isNull(doc.Content[0]) {
		return nil, &Problem{Line: doc.Line, Col: doc.Column, Message: "empty document"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Problem{Line: root.Line, Col: root.Column,
			Message: "top level must be a mapping (apiVersion, kind, metadata, spec), got " + describe(root)}
	}
	return root, nil
}

// locate returns the node of path, or of its nearest ancestor that has one.
func (d *decoder) locate(path string) *yaml.Node {
	for {
		if n := d.pos[path]; n != nil {
			return n
		}
		if path == "" {
			return &yaml.Node{}
		}
		path = parentPath(path)
	}
}

// locatedPath returns path, or its nearest ancestor that has a node.
func (d *decoder) locatedPath(path string) string {
	for path != "" && d.pos[path] == nil {
		path = parentPath(path)
	}
	return path
}

// suppressed reports whether a validation problem at path repeats a decoding
// problem: the same path, or below a value that had the wrong type.
func (d *decoder) suppressed(path string) bool {
	if d.badExact[path] {
		return true
	}
	for {
		if d.badTree[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// parentPath strips the last element of a field path:
// "spec.faults[1].x" → "spec.faults[1]" → "spec.faults" → "spec" → "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}
