package reports

import (
	"bufio"
	"encoding/json"
	"io"
	"reflect"
	"strings"
)

// writeJSONStream writes r as report.json: indented, field for field as
// json.Marshal would (any json.Unmarshal reader sees the same document), except
// that each probe series is reduced (Reduce) and its observations are written one
// compact object per line, straight to w: nothing holds the whole document.
func writeJSONStream(w io.Writer, r *Result) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	sw := &streamWriter{w: bw}
	sw.object(reflect.ValueOf(r).Elem(), "", func(key string, indent string) bool {
		if key != "probes" {
			return false
		}
		sw.probes(r, indent)
		return true
	})
	sw.str("\n")
	if sw.err != nil {
		return sw.err
	}
	return bw.Flush()
}

type streamWriter struct {
	w   *bufio.Writer
	err error
}

func (s *streamWriter) str(v string) {
	if s.err == nil {
		_, s.err = s.w.WriteString(v)
	}
}

// value writes v as indented JSON whose first line is already at indent.
func (s *streamWriter) value(v any, indent string) {
	if s.err != nil {
		return
	}
	b, err := json.MarshalIndent(v, indent, "  ")
	if err != nil {
		s.err = err
		return
	}
	_, s.err = s.w.Write(b)
}

// object writes the struct v as an indented JSON object, its fields in order with
// their json names and omitempty as encoding/json has them; special writes the
// value of a key itself when it returns true.
func (s *streamWriter) object(v reflect.Value, indent string, special func(key, indent string) bool) {
	s.str("{")
	inner := indent + "  "
	n := 0
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv := v.Field(i)
		if strings.Contains(","+opts+",", ",omitempty,") && isEmpty(fv) {
			continue
		}
		if n > 0 {
			s.str(",")
		}
		n++
		key, _ := json.Marshal(name)
		s.str("\n" + inner + string(key) + ": ")
		if !special(name, inner) {
			s.value(fv.Interface(), inner)
		}
	}
	if n > 0 {
		s.str("\n" + indent)
	}
	s.str("}")
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// probes writes r.Probes, each reduced, observations and interval summaries one
// compact object per line.
func (s *streamWriter) probes(r *Result, indent string) {
	if r.Probes == nil {
		s.str("null")
		return
	}
	if len(r.Probes) == 0 {
		s.str("[]")
		return
	}
	s.str("[")
	inner := indent + "  "
	for i, p := range r.Probes {
		if i > 0 {
			s.str(",")
		}
		s.str("\n" + inner)
		p = Reduce(p, marksFor(r, p.Name))
		s.object(reflect.ValueOf(&p).Elem(), inner, func(key, ind string) bool {
			switch key {
			case "observations":
				compactLines(s, p.Observations, ind)
			case "reduced":
				s.object(reflect.ValueOf(p.Reduced).Elem(), ind, func(key, ind string) bool {
					if key != "intervals" {
						return false
					}
					compactLines(s, p.Reduced.Intervals, ind)
					return true
				})
			default:
				return false
			}
			return true
		})
	}
	s.str("\n" + indent + "]")
}

// compactLines writes items as a JSON array, one compact object per line.
func compactLines[T any](s *streamWriter, items []T, indent string) {
	if items == nil {
		s.str("null")
		return
	}
	if len(items) == 0 {
		s.str("[]")
		return
	}
	s.str("[")
	for i := range items {
		if i > 0 {
			s.str(",")
		}
		s.str("\n" + indent + "  ")
		if s.err != nil {
			return
		}
		b, err := json.Marshal(&items[i])
		if err != nil {
			s.err = err
			return
		}
		_, s.err = s.w.Write(b)
	}
	s.str("\n" + indent + "]")
}
