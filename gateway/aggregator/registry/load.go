package registry

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/ganlink/ganlink/internal/fsread"
	"github.com/ganlink/ganlink/internal/yamlsyntax"
)

// entry is one region, park, enterprise or workshop as read from YAML or CSV, with the
// line of every field so validation errors can point at it.
type entry struct {
	file    string
	line    int
	path    string // "enterprises[2]" in YAML, "" in CSV (fields are column names)
	vals    map[string]string
	lines   map[string]int
	vendors []string
	hasVend bool
	nodes   map[string]*yaml.Node // mapping-valued keys (baseline, targets)
	bad     map[string]bool       // keys whose value was already reported
}

func (e *entry) field(name string) string {
	if e.path == "" {
		return name
	}
	return e.path + "." + name
}

func (e *entry) lineOf(name string) int {
	if l, ok := e.lines[name]; ok {
		return l
	}
	return e.line
}

func (e *entry) pos() string { return fmt.Sprintf("%s:%d", e.file, e.line) }

// Keys each kind of entry may have.
var (
	regionKeys     = []string{"code", "name", "baseline", "targets"}
	parkKeys       = []string{"id", "name", "region", "designated_base"}
	enterpriseKeys = []string{"id", "name", "region", "park", "smart_equipment_maker", "vendors", "industry", "value_added_rate"}
	workshopKeys   = []string{"id", "name", "enterprise", "region", "park"}
	topKeys        = []string{"regions", "parks", "enterprises", "enterprises_csv", "workshops", "workshops_csv", "value_added_rates"}
	// A baseline and a target are named after the region_kpi and programme_progress
	// fields they are compared with.
	baselineKeys = []string{"year", schema.FieldEnergyKgcePer10kYuan, schema.FieldWaterM3Per10kYuan}
	targetKeys   = []string{schema.FieldSmartEquipment, schema.FieldDigitalWorkshops, schema.FieldSmartEquipmentMakers, schema.FieldSmartBases}
)

// Load reads and validates the registry at path and the CSV files it imports (paths
// relative to its directory): regular files of at most fsread.MaxRegistry bytes each. On
// failure the error is an Errors listing every problem.
func Load(path string) (*Registry, error) {
	data, err := fsread.ReadRegular(path, fsread.MaxRegistry)
	if err != nil {
		return nil, fmt.Errorf("read registry %q: %w", path, fsread.Reason(err))
	}
	dir := filepath.Dir(path)
	return Parse(path, data, func(name string) (string, []byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		b, err := fsread.ReadRegular(name, fsread.MaxRegistry)
		return name, b, err
	})
}

// ReadFunc reads an imported CSV file named in the registry; it returns the name to
// use in errors and the content.
type ReadFunc func(name string) (string, []byte, error)

// Parse validates a registry read from file (named in errors) with data; readCSV reads
// the imported CSV files.
func Parse(file string, data []byte, readCSV ReadFunc) (*Registry, error) {
	ps := &problems{order: map[string]int{file: 0}}
	root, err := yamlsyntax.Parse(data)
	if err != nil {
		var se *yamlsyntax.Error
		errors.As(err, &se)
		ps.add(file, se.Line, "", "%s", se.Msg)
		return nil, ps.err()
	}
	if len(root.Content) == 0 {
		ps.add(file, 0, "", "empty registry")
		return nil, ps.err()
	}
	if dups := yamlsyntax.Duplicates(root); len(dups) > 0 {
		for _, d := range dups {
			ps.add(file, d.Line, d.Path, "%s", d.Msg())
		}
		return nil, ps.err()
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		ps.add(file, top.Line, "", "want a mapping with regions, parks, enterprises and workshops")
		return nil, ps.err()
	}
	var regions, parks, enterprises, workshops []*entry
	var entCSV, shopCSV []csvRef
	var rates *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "regions":
			regions = yamlEntries(ps, file, k.Value, v, regionKeys)
		case "parks":
			parks = yamlEntries(ps, file, k.Value, v, parkKeys)
		case "enterprises":
			enterprises = yamlEntries(ps, file, k.Value, v, enterpriseKeys)
		case "workshops":
			workshops = yamlEntries(ps, file, k.Value, v, workshopKeys)
		case "enterprises_csv":
			entCSV = csvRefs(ps, file, k.Value, v)
		case "workshops_csv":
			shopCSV = csvRefs(ps, file, k.Value, v)
		case "value_added_rates":
			rates = v
		default:
			ps.add(file, k.Line, k.Value, "unknown key (want one of %s)", strings.Join(topKeys, ", "))
		}
	}
	for _, ref := range entCSV {
		enterprises = append(enterprises, readCSVEntries(ps, ref, readCSV, enterpriseKeys, enterpriseAliases)...)
	}
	for _, ref := range shopCSV {
		workshops = append(workshops, readCSVEntries(ps, ref, readCSV, workshopKeys, workshopAliases)...)
	}
	r := &Registry{
		regions:     map[string]*Region{},
		parks:       map[string]*Park{},
		enterprises: map[string]*Enterprise{},
		workshops:   map[string]*Workshop{},
		vendors:     map[string]*Enterprise{},
		rates:       map[string]float64{},
	}
	b := builder{r: r, ps: ps}
	b.valueAddedRates(file, rates)
	b.regions(regions)
	b.parks(parks)
	b.enterprises(enterprises)
	b.workshops(workshops)
	if err := ps.err(); err != nil {
		return nil, err
	}
	r.index()
	return r, nil
}

func yamlEntries(ps *problems, file, key string, seq *yaml.Node, keys []string) []*entry {
	if seq.Kind == yaml.ScalarNode && seq.Tag == "!!null" {
		return nil
	}
	if seq.Kind != yaml.SequenceNode {
		ps.add(file, seq.Line, key, "want a list")
		return nil
	}
	var out []*entry
	for i, n := range seq.Content {
		e := &entry{file: file, line: n.Line, path: fmt.Sprintf("%s[%d]", key, i),
			vals: map[string]string{}, lines: map[string]int{}, nodes: map[string]*yaml.Node{}, bad: map[string]bool{}}
		if n.Kind != yaml.MappingNode {
			ps.add(file, n.Line, e.path, "want a mapping")
			continue
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			if !contains(keys, k.Value) {
				ps.add(file, k.Line, e.field(k.Value), "unknown key (want one of %s)", strings.Join(keys, ", "))
				continue
			}
			e.lines[k.Value] = k.Line
			switch {
			case k.Value == "vendors":
				e.hasVend = true
				if v.Kind != yaml.SequenceNode {
					ps.add(file, v.Line, e.field(k.Value), "want a list of vendor names")
					continue
				}
				for vi, s := range v.Content {
					if s.Kind != yaml.ScalarNode {
						ps.add(file, s.Line, fmt.Sprintf("%s[%d]", e.field(k.Value), vi), "want a string")
						continue
					}
					e.vendors = append(e.vendors, s.Value)
				}
			case k.Value == "baseline" || k.Value == "targets":
				if v.Kind != yaml.MappingNode {
					ps.add(file, v.Line, e.field(k.Value), "want a mapping")
					continue
				}
				e.nodes[k.Value] = v
			default:
				if v.Kind != yaml.ScalarNode {
					ps.add(file, v.Line, e.field(k.Value), "want a single value")
					e.bad[k.Value] = true
					continue
				}
				if v.Tag != "!!null" {
					e.vals[k.Value] = strings.TrimSpace(v.Value)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

type csvRef struct {
	name string
	file string // the registry file naming it
	line int
	path string
}

func csvRefs(ps *problems, file, key string, n *yaml.Node) []csvRef {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil
	case n.Kind == yaml.ScalarNode:
		return []csvRef{{name: n.Value, file: file, line: n.Line, path: key}}
	case n.Kind == yaml.SequenceNode:
		var out []csvRef
		for i, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Value == "" {
				ps.add(file, c.Line, fmt.Sprintf("%s[%d]", key, i), "want a file name")
				continue
			}
			out = append(out, csvRef{name: c.Value, file: file, line: c.Line, path: fmt.Sprintf("%s[%d]", key, i)})
		}
		return out
	}
	ps.add(file, n.Line, key, "want a file name or a list of file names")
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// builder validates entries into a Registry.
type builder struct {
	r  *Registry
	ps *problems
}

func (b *builder) add(e *entry, field, format string, a ...any) {
	b.ps.add(e.file, e.lineOf(field), e.field(field), format, a...)
}

// id checks a required identifier: non-empty, no surrounding or control characters.
func (b *builder) id(e *entry, field string) (string, bool) {
	v := e.vals[field]
	if v == "" {
		if !e.bad[field] {
			b.ps.add(e.file, e.line, e.field(field), "required")
		}
		return "", false
	}
	for _, c := range v {
		if unicode.IsControl(c) {
			b.add(e, field, "invalid %q: control character", v)
			return "", false
		}
	}
	return v, true
}

func (b *builder) regions(list []*entry) {
	defined := map[string]*entry{}
	for _, e := range list {
		code, ok := b.id(e, "code")
		if !ok {
			continue
		}
		level, err := CheckRegionCode(code)
		if err != nil {
			b.add(e, "code", "%v", err)
			continue
		}
		if first, dup := defined[code]; dup {
			b.add(e, "code", "duplicate region %q (first at %s)", code, first.pos())
			continue
		}
		defined[code] = e
		reg := &Region{Code: code, Level: level, Pos: e.pos()}
		reg.Name, _ = b.id(e, "name")
		if n := e.nodes["baseline"]; n != nil {
			reg.Baseline = b.baseline(e, n)
		}
		if n := e.nodes["targets"]; n != nil {
			reg.Targets = b.targets(e, n)
		}
		b.r.regions[code] = reg
	}
	for _, e := range list {
		reg := b.r.regions[e.vals["code"]]
		if reg == nil || defined[reg.Code] != e {
			continue
		}
		switch reg.Level {
		case City:
			p := ProvinceOf(reg.Code)
			if b.r.regions[p] == nil {
				b.add(e, "code", "unknown parent region %q", p)
				continue
			}
			reg.Parent = p
		case County:
			// A county belongs to its city; counties directly under the province
			// (省直辖县级行政单位) belong to the province when no city-level code
			// groups them.
			c, p := CityOf(reg.Code), ProvinceOf(reg.Code)
			switch {
			case b.r.regions[c] != nil:
				reg.Parent = c
			case b.r.regions[p] != nil:
				reg.Parent = p
			default:
				b.add(e, "code", "unknown parent region %q", c)
			}
		}
	}
	for code, reg := range b.r.regions {
		if reg.Level != Province && reg.Parent == "" {
			delete(b.r.regions, code)
		}
	}
}

// mapping reads a nested mapping's scalar values by key, reporting unknown keys.
func (b *builder) mapping(e *entry, key string, n *yaml.Node, keys []string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := e.field(key) + "." + k.Value
		if !contains(keys, k.Value) {
			b.ps.add(e.file, k.Line, path, "unknown key (want one of %s)", strings.Join(keys, ", "))
			continue
		}
		if v.Kind != yaml.ScalarNode {
			b.ps.add(e.file, v.Line, path, "want a number")
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (b *builder) number(e *entry, path string, n *yaml.Node, min float64, minIncl bool) (float64, bool) {
	f, err := strconv.ParseFloat(n.Value, 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		b.ps.add(e.file, n.Line, path, "invalid number %q", n.Value)
		return 0, false
	case minIncl && f < min:
		b.ps.add(e.file, n.Line, path, "%s is negative", n.Value)
		return 0, false
	case !minIncl && f <= min:
		b.ps.add(e.file, n.Line, path, "%s is not positive", n.Value)
		return 0, false
	}
	return f, true
}

func (b *builder) baseline(e *entry, n *yaml.Node) *Baseline {
	m := b.mapping(e, "baseline", n, baselineKeys)
	bl := &Baseline{}
	ok := true
	for _, k := range baselineKeys {
		v := m[k]
		path := e.field("baseline") + "." + k
		if v == nil {
			b.ps.add(e.file, e.lineOf("baseline"), path, "required")
			ok = false
			continue
		}
		switch k {
		case "year":
			y, err := strconv.Atoi(v.Value)
			if err != nil || y < 1949 || y > 2100 {
				b.ps.add(e.file, v.Line, path, "invalid year %q", v.Value)
				ok = false
			}
			bl.Year = y
		case schema.FieldEnergyKgcePer10kYuan:
			bl.EnergyKgcePer10kYuan, ok = b.numberAnd(ok, e, path, v)
		case schema.FieldWaterM3Per10kYuan:
			bl.WaterM3Per10kYuan, ok = b.numberAnd(ok, e, path, v)
		}
	}
	if !ok {
		return nil
	}
	return bl
}

func (b *builder) numberAnd(ok bool, e *entry, path string, v *yaml.Node) (float64, bool) {
	f, good := b.number(e, path, v, 0, false)
	return f, ok && good
}

func (b *builder) targets(e *entry, n *yaml.Node) *Targets {
	m := b.mapping(e, "targets", n, targetKeys)
	t := &Targets{}
	dst := map[string]*float64{schema.FieldSmartEquipment: &t.SmartEquipment, schema.FieldDigitalWorkshops: &t.DigitalWorkshops,
		schema.FieldSmartEquipmentMakers: &t.SmartEquipmentMakers, schema.FieldSmartBases: &t.SmartBases}
	for _, k := range targetKeys {
		if v := m[k]; v != nil {
			*dst[k], _ = b.number(e, e.field("targets")+"."+k, v, 0, true)
		}
	}
	return t
}

func (b *builder) regionRef(e *entry, field string, required bool) (string, bool) {
	code := e.vals[field]
	if code == "" {
		if required {
			b.ps.add(e.file, e.line, e.field(field), "required")
			return "", false
		}
		return "", true
	}
	if _, err := CheckRegionCode(code); err != nil {
		b.add(e, field, "%v", err)
		return "", false
	}
	if b.r.regions[code] == nil {
		b.add(e, field, "unknown region %q", code)
		return "", false
	}
	return code, true
}

func (b *builder) boolean(e *entry, field string) bool {
	v, ok := parseBool(e.vals[field])
	if !ok {
		b.add(e, field, "invalid boolean %q (want true or false)", e.vals[field])
	}
	return v
}

// parseBool accepts what spreadsheets hold: true/false, yes/no, 1/0, 是/否, empty = false.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "", "false", "no", "n", "0", "否":
		return false, true
	case "true", "yes", "y", "1", "是":
		return true, true
	}
	return false, false
}

func (b *builder) parks(list []*entry) {
	first := map[string]*entry{}
	for _, e := range list {
		id, ok := b.id(e, "id")
		if !ok {
			continue
		}
		if f, dup := first[id]; dup {
			b.add(e, "id", "duplicate park %q (first at %s)", id, f.pos())
			continue
		}
		first[id] = e
		p := &Park{ID: id, Pos: e.pos()}
		p.Name, _ = b.id(e, "name")
		p.DesignatedBase = b.boolean(e, "designated_base")
		region, ok := b.regionRef(e, "region", true)
		if !ok {
			continue
		}
		p.Region = region
		b.r.parks[id] = p
	}
}

// placed resolves the region and park of an enterprise or workshop: an explicit park
// must exist, an explicit region must exist, the region defaults to the park's (or to
// def), and region and park must overlap (one within the other).
func (b *builder) placed(e *entry, defRegion, defPark string) (region, park string, ok bool) {
	park = defPark
	if id := e.vals["park"]; id != "" {
		if b.r.parks[id] == nil {
			b.add(e, "park", "unknown park %q", id)
			return "", "", false
		}
		park = id
	}
	region, ok = b.regionRef(e, "region", false)
	if !ok {
		return "", "", false
	}
	if region == "" {
		region = defRegion
		if id := e.vals["park"]; id != "" {
			// An explicit park places the entry unless the default region is
			// consistent with it (and more precise or equal).
			pr := b.r.parks[id].Region
			if region == "" || !b.r.Within(region, pr) {
				region = pr
			}
		}
		if region == "" {
			b.ps.add(e.file, e.line, e.field("region"), "required (no park to take it from)")
			return "", "", false
		}
	}
	if park != "" {
		pr := b.r.parks[park].Region
		if !b.r.Within(region, pr) && !b.r.Within(pr, region) {
			field := "region"
			if e.vals["region"] == "" {
				field = "park"
			}
			b.add(e, field, "region %q and park %q (region %q) do not overlap", region, park, pr)
			return "", "", false
		}
	}
	return region, park, true
}

func (b *builder) enterprises(list []*entry) {
	first := map[string]*entry{}
	vendorAt := map[string]*entry{}
	for _, e := range list {
		id, ok := b.id(e, "id")
		if !ok {
			continue
		}
		if err := CheckUSCC(id); err != nil {
			b.add(e, "id", "%v", err)
			continue
		}
		if f, dup := first[id]; dup {
			b.add(e, "id", "duplicate enterprise %q (first at %s)", id, f.pos())
			continue
		}
		first[id] = e
		ent := &Enterprise{ID: id, Pos: e.pos()}
		ent.Name, _ = b.id(e, "name")
		ent.SmartEquipmentMaker = b.boolean(e, "smart_equipment_maker")
		region, park, ok := b.placed(e, "", "")
		if !ok {
			continue
		}
		ent.Region, ent.Park = region, park
		if !b.industry(e, ent) {
			continue
		}
		if e.hasVend && !ent.SmartEquipmentMaker {
			b.add(e, "vendors", "vendors given for an enterprise that is not a smart-equipment maker")
			continue
		}
		if ent.SmartEquipmentMaker {
			vendors := e.vendors
			if len(vendors) == 0 {
				vendors = []string{id}
			}
			for _, v := range vendors {
				if v == "" {
					b.add(e, "vendors", "empty vendor name")
					continue
				}
				if f, dup := vendorAt[v]; dup {
					b.add(e, "vendors", "vendor %q already names enterprise %q (%s)", v, f.vals["id"], f.pos())
					continue
				}
				vendorAt[v] = e
				ent.Vendors = append(ent.Vendors, v)
				b.r.vendors[v] = ent
			}
		}
		b.r.enterprises[id] = ent
	}
}

// industry reads an enterprise's industry class and value-added rate and resolves the
// rate it uses (see Enterprise.ValueAddedRate).
func (b *builder) industry(e *entry, ent *Enterprise) bool {
	ok := true
	if v := e.vals["industry"]; v != "" {
		c, err := ParseIndustryClass(v)
		if err != nil {
			b.add(e, "industry", "%v", err)
			ok = false
		}
		ent.Industry = c
	}
	if v := e.vals["value_added_rate"]; v != "" {
		f, err := ParseValueAddedRate(v)
		if err != nil {
			b.add(e, "value_added_rate", "%v", err)
			ok = false
		}
		ent.ValueAddedRate, ent.ValueAddedRateFrom = f, RateFromEnterprise
		return ok
	}
	if ent.Industry != "" {
		ent.ValueAddedRate, ent.ValueAddedRateFrom = b.r.IndustryValueAddedRate(ent.Industry)
	}
	return ok
}

// valueAddedRates reads the province's value_added_rates table: industry code (a
// section, division, group or class, with or without the section letter) → rate.
func (b *builder) valueAddedRates(file string, n *yaml.Node) {
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return
	}
	if n.Kind != yaml.MappingNode {
		b.ps.add(file, n.Line, "value_added_rates", "want a mapping of industry code to rate (e.g. C34: 0.21)")
		return
	}
	given := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := "value_added_rates." + k.Value
		code, err := ParseIndustry(strings.TrimSpace(k.Value))
		if err != nil {
			b.ps.add(file, k.Line, path, "%v", err)
			continue
		}
		if first, dup := given[code]; dup {
			b.ps.add(file, k.Line, path, "industry %s given twice (first as %q)", code, first)
			continue
		}
		given[code] = k.Value
		if v.Kind != yaml.ScalarNode {
			b.ps.add(file, v.Line, path, "want a number")
			continue
		}
		f, err := ParseValueAddedRate(v.Value)
		if err != nil {
			b.ps.add(file, v.Line, path, "%v", err)
			continue
		}
		b.r.rates[code] = f
	}
}

func (b *builder) workshops(list []*entry) {
	first := map[string]*entry{}
	for _, e := range list {
		id, ok := b.id(e, "id")
		if !ok {
			continue
		}
		if f, dup := first[id]; dup {
			b.add(e, "id", "duplicate workshop %q (first at %s)", id, f.pos())
			continue
		}
		first[id] = e
		w := &Workshop{ID: id, Pos: e.pos()}
		w.Name, _ = b.id(e, "name")
		entID, ok := b.id(e, "enterprise")
		if !ok {
			continue
		}
		ent := b.r.enterprises[entID]
		if ent == nil {
			b.add(e, "enterprise", "unknown enterprise %q", entID)
			continue
		}
		w.Enterprise = entID
		region, park, ok := b.placed(e, ent.Region, ent.Park)
		if !ok {
			continue
		}
		w.Region, w.Park = region, park
		b.r.workshops[id] = w
	}
}

// Errors from reading an imported file are reported at the line that names it.
func readError(ps *problems, ref csvRef, err error) {
	if errors.Is(err, os.ErrNotExist) {
		ps.add(ref.file, ref.line, ref.path, "file %q does not exist", ref.name)
		return
	}
	ps.add(ref.file, ref.line, ref.path, "read %q: %v", ref.name, fsread.Reason(err))
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, utf8BOM) }
