package experiments

import (
	"reflect"
	"sort"
	"strings"
	"sync"
)

// structInfo is the YAML view of a struct type: its keys, in declaration order.
type structInfo struct {
	fields []fieldInfo
	byName map[string]*fieldInfo
	names  []string // sorted, for suggestions
}

type fieldInfo struct {
	name      string // YAML key
	goName    string
	index     []int // through inlined structs
	omitEmpty bool
	typ       reflect.Type
}

var structInfos sync.Map // reflect.Type → *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]*fieldInfo{}}
	collectFields(t, nil, si, 0)
	for i := range si.fields {
		f := &si.fields[i]
		if _, dup := si.byName[f.name]; !dup {
			si.byName[f.name] = f
			si.names = append(si.names, f.name)
		}
	}
	sort.Strings(si.names)
	actual, _ := structInfos.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// collectFields reads yaml tags (then json tags, then the lowercased Go name, as
// yaml.v3 does); `yaml:",inline"` and untagged embedded structs are flattened.
func collectFields(t reflect.Type, index []int, si *structInfo, depth int) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok {
			tag, ok = sf.Tag.Lookup("json")
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		ft := sf.Type
		inline := strings.Contains(","+opts+",", ",inline,") || (sf.Anonymous && !ok)
		if inline && depth < 8 && !(ft.Kind() == reflect.Pointer && !sf.IsExported()) {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, idx, si, depth+1)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		si.fields = append(si.fields, fieldInfo{name: name, goName: sf.Name, index: idx,
			omitEmpty: strings.Contains(","+opts+",", ",omitempty,"), typ: sf.Type})
	}
}

// fieldOf returns the field at index, allocating nil inlined pointers on the way.
func fieldOf(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// suggest returns the candidate closest to s, if it is close enough to be a typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	if len(s) <= 3 {
		bestD = 2
	}
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return c
		}
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
