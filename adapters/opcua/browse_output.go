package opcua

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/gopcua/opcua/ua"
)

// Companion specification namespaces and the type ids Browse recognises.
const (
	nsuMachineToolSpec = "http://opcfoundation.org/UA/MachineTool/"
	nsuMachinerySpec   = "http://opcfoundation.org/UA/Machinery/"
	machineToolType    = "nsu=" + nsuMachineToolSpec + ";i=13"
	spindleType        = "nsu=" + nsuMachineToolSpec + ";i=22"
	channelType        = "nsu=" + nsuMachineToolSpec + ";i=16"
)

// WriteTree prints the browsed nodes as a tree with one aligned line per node: browse
// name, node class, data type, access level, value and node id.
func (r *BrowseResult) WriteTree(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BROWSE NAME\tCLASS\tDATA TYPE\tACCESS\tVALUE\tNODE ID")
	if r.Root.shown {
		writeNode(tw, r.Root, "", "")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var err error
	if !r.Root.shown {
		_, err = fmt.Fprintf(w, "(no node matches %s)\n", shownText(strconv.Quote(r.match)))
	}
	if r.Truncated && err == nil {
		_, err = fmt.Fprintf(w, "(stopped after %d nodes: narrow the browse with -start, -depth or -match)\n", r.maxNodes)
	}
	return err
}

func writeNode(w io.Writer, n *BrowseNode, prefix, childPrefix string) {
	again := ""
	if n.repeated {
		again = " (again)"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", prefix+shownText(n.BrowseName)+again, n.Class, shownText(n.DataType), n.Access,
		shownText(n.Value), shownText(n.NodeID))
	var shown []*BrowseNode
	for _, c := range n.Children {
		if c.shown {
			shown = append(shown, c)
		}
	}
	for i, c := range shown {
		if i == len(shown)-1 {
			writeNode(w, c, childPrefix+"└─ ", childPrefix+"   ")
		} else {
			writeNode(w, c, childPrefix+"├─ ", childPrefix+"│  ")
		}
	}
}

// step is one browse path element: a browse name and its namespace URI.
type step struct{ name, uri string }

// machine is a recognised OPC 40501 MachineTool object and its standard signals.
type machine struct {
	node    *BrowseNode
	tool    bool   // an OPC 40501 MachineTool; else an OPC 40001-1 machine
	path    []step // from the start node to the machine
	signals []machineSignal
	notes   []string // signals not found or not used, as YAML comments
}

// machineSignal is one standard signal of a machine: its field is named after its role.
type machineSignal struct {
	role    string
	steps   []step // from the machine
	codes   []stateCode
	comment string
}

// stateCode is one state of a companion-specification state machine: the text of its
// CurrentState (the state's display name, which is its browse name in the nodeset) and
// its StateNumber, the code the KPI engine uses.
type stateCode struct {
	text string
	code int
}

// The states of OPC 40001-1 (Machinery) MachineryItemState_StateMachineType and
// MachineryOperationModeStateMachineType, with the StateNumber of each state in the
// Machinery nodeset (Opc.Ua.Machinery.NodeSet2.xml). The KPI engine's codes are these
// numbers (docs/metrics.md).
var (
	machineryItemStates = []stateCode{{"NotAvailable", 0}, {"OutOfService", 1}, {"NotExecuting", 2}, {"Executing", 3}}
	machineryModeStates = []stateCode{{"None", 0}, {"Maintenance", 1}, {"Setup", 2}, {"Processing", 3}}
)

// findMachines recognises machines among the selected objects: OPC 40501 machine tools
// (type definition MachineToolType, or components Monitoring/MachineTool in the
// MachineTool namespace) and other OPC 40001-1 machines (a component
// MachineryBuildingBlocks in the Machinery namespace). Objects below a recognised
// machine are not machines themselves.
func (b *browser) findMachines(ctx context.Context, r *BrowseResult) ([]*machine, error) {
	var cands []*BrowseNode
	var visit func(n *BrowseNode)
	visit = func(n *BrowseNode) {
		if n.class == ua.NodeClassObject && n.selected && !n.repeated && n.id.Namespace() != 0 {
			cands = append(cands, n)
		}
		for _, c := range n.Children {
			visit(c)
		}
	}
	visit(r.Root)
	ids := make([]*ua.NodeID, len(cands))
	for i, n := range cands {
		ids[i] = n.id
	}
	if err := b.browseChildren(ctx, ids); err != nil {
		return nil, err
	}
	var monitoring []*ua.NodeID
	for _, n := range cands {
		if ref := b.childRef(n.id, "Monitoring", nsuMachineToolSpec); ref != nil {
			if id := b.local(ref.NodeID); id != nil {
				monitoring = append(monitoring, id)
			}
		}
	}
	if err := b.browseChildren(ctx, monitoring); err != nil {
		return nil, err
	}
	var out []*machine
	inMachine := func(n *BrowseNode) bool {
		for p := n.parent; p != nil; p = p.parent {
			for _, m := range out {
				if m.node == p {
					return true
				}
			}
		}
		return false
	}
	for _, n := range cands {
		if inMachine(n) {
			continue
		}
		isMachine := n.typeDef == machineToolType
		if !isMachine {
			if ref := b.childRef(n.id, "Monitoring", nsuMachineToolSpec); ref != nil {
				if mon := b.local(ref.NodeID); mon != nil && b.childRef(mon, "MachineTool", nsuMachineToolSpec) != nil {
					isMachine = true
				}
			}
		}
		tool := isMachine
		if !isMachine && b.childRef(n.id, "MachineryBuildingBlocks", nsuMachinerySpec) != nil {
			isMachine = true // an OPC 40001-1 machine that is no machine tool
		}
		if !isMachine {
			continue
		}
		m := &machine{node: n, tool: tool}
		for p := n; p != r.Root; p = p.parent {
			m.path = append([]step{{p.BrowseName, p.NamespaceURI}}, m.path...)
		}
		if r.defaultStart {
			m.path = append([]step{{"Objects", ""}}, m.path...)
		}
		if err := b.machineSignals(ctx, m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// childRef returns the reference to the child of parent named name (in namespace uri
// unless uri is "*"), from the children already browsed.
func (b *browser) childRef(parent *ua.NodeID, name, uri string) *ua.ReferenceDescription {
	for _, r := range b.children[parent.String()] {
		if r == nil || !r.IsForward || r.BrowseName == nil || r.BrowseName.Name != name {
			continue
		}
		if uri == "*" || b.uri(r.BrowseName.NamespaceIndex) == uri || (uri == "" && r.BrowseName.NamespaceIndex == 0) {
			return r
		}
	}
	return nil
}

// follow walks names (in any namespace) from a node; it returns the steps taken and the
// last reference, or nil when a name is missing.
func (b *browser) follow(ctx context.Context, from *ua.NodeID, names ...string) ([]step, *ua.ReferenceDescription, error) {
	var steps []step
	var ref *ua.ReferenceDescription
	cur := from
	for _, name := range names {
		if err := b.browseChildren(ctx, []*ua.NodeID{cur}); err != nil {
			return nil, nil, err
		}
		ref = b.childRef(cur, name, "*")
		if ref == nil {
			return nil, nil, nil
		}
		steps = append(steps, step{ref.BrowseName.Name, b.uri(ref.BrowseName.NamespaceIndex)})
		if cur = b.local(ref.NodeID); cur == nil {
			return nil, nil, nil
		}
	}
	return steps, ref, nil
}

// variable is follow for a path that must end at a variable.
func (b *browser) variable(ctx context.Context, from *ua.NodeID, names ...string) ([]step, error) {
	steps, ref, err := b.follow(ctx, from, names...)
	if err != nil || ref == nil || ref.NodeClass != ua.NodeClassVariable {
		return nil, err
	}
	return steps, nil
}

// Role names written by WriteConfig (the KPI engine's well-known roles).
const (
	roleMachineryItemState = "machinery_item_state"
	roleOperationMode      = "operation_mode"
	roleChannelState       = "channel_state"
	roleProgramState       = "program_state"
	roleAlarm              = "alarm"
	roleSpindleSpeed       = "spindle_speed_rpm"
	roleParts              = "parts_total"
)

// candidate is one place a standard signal may be, relative to the machine.
type candidate []string

func (c candidate) String() string { return strings.Join(c, "/") }

// machineSignals finds the standard signals of a machine tool by the browse names of
// OPC 40001-1 (Machinery) and OPC 40501-1 (MachineTool), names matched in any
// namespace. Each role gets at most one signal: the first of its candidates found, in
// the order below; the others found are noted as not used.
func (b *browser) machineSignals(ctx context.Context, m *machine) error {
	id := m.node.id
	note := func(format string, a ...any) { m.notes = append(m.notes, fmt.Sprintf(format, a...)) }
	// first returns the steps of the first candidate that is a variable, noting the
	// others that are.
	first := func(role string, cands ...candidate) ([]step, error) {
		var found []step
		for _, c := range cands {
			steps, err := b.variable(ctx, id, c...)
			if err != nil {
				return nil, err
			}
			switch {
			case steps == nil:
			case found == nil:
				found = steps
			default:
				note("%s: %s not used (one signal per role)", role, c)
			}
		}
		return found, nil
	}
	// stateMachine binds the CurrentState of the first of the state machines (objects
	// at the candidate paths) that has one: its Number when the server has that optional
	// property, else CurrentState itself, whose text the map of codes turns into the
	// StateNumber.
	stateMachine := func(role string, codes []stateCode, machines ...candidate) error {
		var done bool
		for _, sm := range machines {
			cs, err := b.variable(ctx, id, append(append([]string(nil), sm...), "CurrentState")...)
			switch {
			case err != nil:
				return err
			case cs == nil:
				continue
			case done:
				note("%s: %s not used (one signal per role)", role, sm)
				continue
			}
			done = true
			num, err := b.variable(ctx, id, append(append([]string(nil), sm...), "CurrentState", "Number")...)
			if err != nil {
				return err
			}
			if num != nil {
				m.signals = append(m.signals, machineSignal{role: role, steps: num})
			} else {
				m.signals = append(m.signals, machineSignal{role: role, steps: cs, codes: codes,
					comment: "CurrentState text to OPC 40001-1 StateNumber; a server that localises state names needs these keys changed"})
			}
		}
		if !done {
			note("%s: no %s/CurrentState", role, machines[0])
		}
		return nil
	}

	if err := stateMachine(roleMachineryItemState, machineryItemStates,
		candidate{"MachineryBuildingBlocks", "MachineryItemState"}, candidate{"Monitoring", "MachineTool", "MachineryItemState"}); err != nil {
		return err
	}
	if err := stateMachine(roleOperationMode, machineryModeStates,
		candidate{"MachineryBuildingBlocks", "MachineryOperationMode"}, candidate{"Monitoring", "MachineTool", "MachineryOperationMode"}); err != nil {
		return err
	}
	if !m.tool {
		return partsCounter(m, first, note)
	}
	// OPC 40501 MachineOperationMode is another enumeration (Manual 0, Automatic 1,
	// Setup 2, AutoWithManualIntervention 3, Service 4, Other 5): read as
	// MachineryOperationMode, Automatic would be Maintenance. It has no role.
	if steps, err := b.variable(ctx, id, "Monitoring", "MachineTool", "OperationMode"); err != nil {
		return err
	} else if steps != nil {
		note("Monitoring/MachineTool/OperationMode is OPC 40501 MachineOperationMode (Manual 0, Automatic 1, Setup 2, ...), not MachineryOperationMode: no role")
	}
	if err := b.channel(ctx, m, note); err != nil {
		return err
	}
	if steps, err := b.variable(ctx, id, "Production", "ActiveProgram", "State", "CurrentState", "Number"); err != nil {
		return err
	} else if steps != nil {
		m.signals = append(m.signals, machineSignal{role: roleProgramState, steps: steps,
			comment: "ProductionProgramStateMachine: Initializing 0, Running 1, Ended 2, Interrupted 3, Aborted 4"})
	}
	note("alarm: OPC 40501 reports alarms as events (Notification/Messages), which the gateway does not read; map an alarm flag of the controller by hand")
	if err := b.spindle(ctx, m, note); err != nil {
		return err
	}
	return partsCounter(m, first, note)
}

// partsCounter finds the lifetime part counter of OPC 40501 (a 40001-1 machine that
// is no machine tool has none).
func partsCounter(m *machine, first func(string, ...candidate) ([]step, error), note func(string, ...any)) error {
	steps, err := first(roleParts,
		candidate{"Monitoring", "MachineTool", "OperationCounters", "PartsProducedInLifetime"},
		candidate{"Monitoring", "MachineTool", "PartsProducedInLifetime"},
		candidate{"Production", "Statistics", "PartsProducedInLifetime"})
	if err != nil {
		return err
	}
	if steps != nil {
		m.signals = append(m.signals, machineSignal{role: roleParts, steps: steps})
	} else {
		note("parts_total: no Monitoring/MachineTool/OperationCounters/PartsProducedInLifetime or Production/Statistics/PartsProducedInLifetime")
	}
	return nil
}

// monitored returns the objects under the machine's Monitoring that the test accepts,
// sorted by browse name (so the choice among several does not depend on the server's
// order), and the steps to Monitoring.
func (b *browser) monitored(ctx context.Context, m *machine, accept func(r *ua.ReferenceDescription, typeDef string) bool) ([]step, []*ua.ReferenceDescription, error) {
	monSteps, mon, err := b.follow(ctx, m.node.id, "Monitoring")
	if err != nil || mon == nil {
		return nil, nil, err
	}
	monID := b.local(mon.NodeID)
	if monID == nil {
		return nil, nil, nil
	}
	var out []*ua.ReferenceDescription
	for _, r := range b.children[monID.String()] {
		if r == nil || r.BrowseName == nil || r.NodeClass != ua.NodeClassObject {
			continue
		}
		td := ""
		if t := b.local(r.TypeDefinition); t != nil {
			td = b.format(t)
		}
		if accept(r, td) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].BrowseName.Name < out[j].BrowseName.Name })
	return monSteps, out, nil
}

// channel finds the ChannelState of the first NC channel under Monitoring (an object
// of type ChannelMonitoringType or with a ChannelState variable); OPC 40501
// ChannelState is Active 0, Interrupted 1, Reset 2, the KPI engine's codes.
func (b *browser) channel(ctx context.Context, m *machine, note func(string, ...any)) error {
	monSteps, chans, err := b.monitored(ctx, m, func(r *ua.ReferenceDescription, td string) bool {
		return td == channelType || strings.HasPrefix(r.BrowseName.Name, "Channel")
	})
	if err != nil {
		return err
	}
	done := false
	for _, r := range chans {
		ch := b.local(r.NodeID)
		if ch == nil {
			continue
		}
		steps, err := b.variable(ctx, ch, "ChannelState")
		if err != nil {
			return err
		}
		if steps == nil {
			continue
		}
		if done {
			note("channel_state: Monitoring/%s not used (one signal per role)", r.BrowseName.Name)
			continue
		}
		done = true
		all := append(append(append([]step(nil), monSteps...), step{r.BrowseName.Name, b.uri(r.BrowseName.NamespaceIndex)}), steps...)
		m.signals = append(m.signals, machineSignal{role: roleChannelState, steps: all})
	}
	return nil
}

// spindle finds the speed of the first spindle under Monitoring: an object of type
// SpindleMonitoringType or named *Spindle*, with a variable ActSpeed, ActualSpeed,
// SpindleSpeed or Speed (OPC 40501 itself models only IsRotating and Override).
func (b *browser) spindle(ctx context.Context, m *machine, note func(string, ...any)) error {
	monSteps, spindles, err := b.monitored(ctx, m, func(r *ua.ReferenceDescription, td string) bool {
		return td == spindleType || strings.Contains(strings.ToLower(r.BrowseName.Name), "spindle")
	})
	if err != nil {
		return err
	}
	if monSteps == nil {
		note("spindle_speed_rpm: no Monitoring")
		return nil
	}
	done := false
	for _, r := range spindles {
		sp := b.local(r.NodeID)
		if sp == nil {
			continue
		}
		var steps []step
		for _, name := range spindleSpeedNames {
			if steps, err = b.variable(ctx, sp, name); err != nil {
				return err
			}
			if steps != nil {
				break
			}
		}
		switch {
		case steps == nil:
			note("spindle_speed_rpm: Monitoring/%s has no ActSpeed, ActualSpeed, SpindleSpeed or Speed (IsRotating is 0/1)", r.BrowseName.Name)
		case done:
			note("spindle_speed_rpm: Monitoring/%s not used (one signal per role)", r.BrowseName.Name)
		default:
			done = true
			all := append(append(append([]step(nil), monSteps...), step{r.BrowseName.Name, b.uri(r.BrowseName.NamespaceIndex)}), steps...)
			m.signals = append(m.signals, machineSignal{role: roleSpindleSpeed, steps: all})
		}
	}
	if len(spindles) == 0 {
		note("spindle_speed_rpm: no spindle under Monitoring")
	}
	return nil
}

// spindleSpeedNames are the names of a spindle's actual speed: OPC 40502 (CNC) ActSpeed
// and common vendor names.
var spindleSpeedNames = []string{"ActSpeed", "ActualSpeed", "SpindleSpeed", "Speed"}

// WriteConfig prints the selected variables as device YAML for the gateway
// configuration: recognised machines with their standard signals by browse path
// (BrowseOptions.Machines), each named after and carrying its KPI role, and every other
// selected numeric or Boolean variable by node id, grouped by the object it belongs to
// (with a role when variableRole finds one); variables in namespace 0 and below
// objects in namespace 0 (the Server object) are left out. Text variables
// appear as comments (they need a map); other types are left out. source is the name
// of the OPC UA source in the configuration.
func (r *BrowseResult) WriteConfig(w io.Writer, source string) error {
	var b strings.Builder
	devIDs := map[string]int{}
	uniqueID := func(base string) string {
		devIDs[base]++
		if n := devIDs[base]; n > 1 {
			return base + "_" + strconv.Itoa(n)
		}
		return base
	}
	startNS := r.nsOf(r.Root)
	devices := 0
	inMachine := map[*BrowseNode]bool{}
	for _, m := range r.machines {
		inMachine[m.node] = true
		devices++
		kind, spec := "machine", "OPC 40001-1 machine"
		if m.tool {
			kind, spec = "cnc", "OPC 40501 MachineTool"
		}
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    kind: %s\n    source: %s\n", uniqueID(snakeID(m.node.BrowseName)),
			strconv.Quote(m.node.BrowseName), kind, source)
		fmt.Fprintf(&b, "    # %s %s (%s)\n    signals:\n", spec, shownText(strconv.Quote(m.node.BrowseName)), shownText(m.node.NodeID))
		for _, s := range m.signals {
			all := append(append([]step(nil), m.path...), s.steps...)
			names, uris := make([]string, len(all)), make([]string, len(all))
			for i, st := range all {
				names[i], uris[i] = st.name, st.uri
			}
			fmt.Fprintf(&b, "      %s:", s.role)
			if s.comment != "" {
				fmt.Fprintf(&b, " # %s", shownText(s.comment))
			}
			fmt.Fprintf(&b, "\n        browse_path: %s\n", strconv.Quote(formatPath(startNS, names, uris)))
			if !r.defaultStart {
				fmt.Fprintf(&b, "        browse_start: %s\n", strconv.Quote(r.Start))
			}
			writeSemantics(&b, s.role, s.codes)
		}
		for _, n := range m.notes {
			fmt.Fprintf(&b, "      # %s\n", shownText(n))
		}
	}

	// Other variables, grouped by the nearest object above them.
	type group struct {
		owner *BrowseNode
		lines []string
		names map[string]int
		roles map[string]string // role → field
	}
	var groups []*group
	byOwner := map[*BrowseNode]*group{}
	var visit func(n *BrowseNode)
	visit = func(n *BrowseNode) {
		if inMachine[n] || n.repeated || (n != r.Root && n.id.Namespace() == 0 && n.class == ua.NodeClassObject) {
			return // machines are done; namespace 0 holds the server's own objects
		}
		if n.class == ua.NodeClassVariable && n.selected && n.id.Namespace() != 0 {
			owner := n.parent
			for owner != nil && owner.class != ua.NodeClassObject {
				owner = owner.parent
			}
			if owner == nil {
				owner = n
			}
			g := byOwner[owner]
			if g == nil {
				g = &group{owner: owner, names: map[string]int{}, roles: map[string]string{}}
				byOwner[owner] = g
				groups = append(groups, g)
			}
			var parts []string
			for p := n; p != owner && p != nil; p = p.parent {
				parts = append([]string{p.BrowseName}, parts...)
			}
			field := snakeField(strings.Join(parts, "_"))
			switch {
			case isNumeric(n):
				role, comment := variableRole(n, field), ""
				if other, taken := g.roles[role]; taken {
					comment = fmt.Sprintf(" # no role: %s is %s already", role, other)
					role = ""
				}
				if role != "" {
					field = role // one name across machines and vendors; the node id tells the origin
				}
				g.names[field]++
				if c := g.names[field]; c > 1 {
					field += "_" + strconv.Itoa(c)
				}
				var sem strings.Builder
				if role != "" {
					g.roles[role] = field
					writeSemantics(&sem, role, nil)
				}
				g.lines = append(g.lines, fmt.Sprintf("      %s:%s\n        node: %s\n%s", field, comment, strconv.Quote(n.NodeID), sem.String()))
			case isText(n):
				g.lines = append(g.lines, fmt.Sprintf("      # %s: %s value: add a map of texts to codes to use it\n      #   node: %s\n",
					field, shownText(n.DataType), shownText(strconv.Quote(n.NodeID))))
			}
		}
		for _, c := range n.Children {
			visit(c)
		}
	}
	visit(r.Root)
	for _, g := range groups {
		if len(g.lines) == 0 {
			continue
		}
		devices++
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    kind: machine\n    source: %s\n    signals:\n", uniqueID(snakeID(g.owner.BrowseName)),
			strconv.Quote(g.owner.BrowseName), source)
		for _, l := range g.lines {
			b.WriteString(l)
		}
	}

	header := fmt.Sprintf("# Devices from %s, generated by gateway browse. The OPC UA source must be\n# configured under sources.opcua:\n#   - name: %s\n#     endpoint: %s\n",
		shownText(r.Endpoint), shownText(source), shownText(strconv.Quote(r.Endpoint)))
	if policy, mode, ok := strings.Cut(r.Security, "/"); ok {
		header += fmt.Sprintf("#     security_policy: %s\n#     security_mode: %s\n", shownText(policy), shownText(mode))
	}
	body := "devices:\n" + b.String()
	if devices == 0 {
		body = "# no numeric variables selected\ndevices: []\n"
	}
	_, err := io.WriteString(w, header+body)
	return err
}

// writeSemantics writes a signal's role, counter: true for a counter role and the map
// of a state machine's CurrentState texts to their codes.
func writeSemantics(b *strings.Builder, role string, codes []stateCode) {
	fmt.Fprintf(b, "        role: %s\n", role)
	if role == roleParts {
		b.WriteString("        counter: true\n")
	}
	if len(codes) > 0 {
		b.WriteString("        map: {")
		for i, c := range codes {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "%s: %d", c.text, c.code)
		}
		b.WriteString("}\n")
	}
}

// roleNames are the KPI engine's well-known roles (docs/configuration.md): a field
// named like one has that role.
var roleNames = []string{roleMachineryItemState, roleOperationMode, roleChannelState, roleProgramState, roleAlarm,
	roleSpindleSpeed, roleParts, "energy_kwh_total", "power_kw", "water_m3_total"}

// variableRole is the role of a numeric variable outside a recognised machine:
// SuggestRole of its field and the browse names from it up the tree.
func variableRole(n *BrowseNode, field string) string { return SuggestRole(field, n.Ancestry()...) }

// suggestDepth is how many browse names, from a node up, SuggestRole looks at:
// Production/ActiveProgram/State/CurrentState/Number needs four.
const suggestDepth = 4

// Ancestry returns the browse names of n and the nodes above it, nearest first, as many
// as SuggestRole looks at.
func (n *BrowseNode) Ancestry() []string {
	var names []string
	for p := n; p != nil && len(names) < suggestDepth; p = p.parent {
		names = append(names, p.BrowseName)
	}
	return names
}

// SuggestRole is the KPI role `gateway browse -emit-config` gives a numeric variable
// outside a recognised machine, and the one the commissioning page suggests; names are
// the browse names of the variable and of the nodes above it, nearest first. The role is
// the one its field name is, else the one its browse name has in OPC 40001-1
// (MachineryItemState, MachineryOperationMode: the state machines' numbers), OPC 40501-1
// (ChannelState, PartsProducedInLifetime) or OPC 40502 (a spindle's ActSpeed, under a
// parent whose browse name contains "spindle"), or SpindleSpeed; the Number of a state
// machine's CurrentState has its state machine's role (MachineryItemState,
// MachineryOperationMode, ChannelState, and ActiveProgram/State for the program state).
// "" for none.
func SuggestRole(field string, names ...string) string {
	if slices.Contains(roleNames, field) {
		return field
	}
	at := func(i int) string {
		if i < len(names) {
			return names[i]
		}
		return ""
	}
	browseName, parentBrowseName := at(0), at(1)
	if browseName == "Number" && parentBrowseName == "CurrentState" {
		switch machine := at(2); {
		case machine == "State" && at(3) == "ActiveProgram":
			return roleProgramState
		case machine == "MachineryItemState" || machine == "MachineryOperationMode" || machine == "ChannelState":
			browseName = machine
		default:
			return ""
		}
	}
	switch browseName {
	case "MachineryItemState":
		return roleMachineryItemState
	case "MachineryOperationMode":
		return roleOperationMode
	case "ChannelState":
		return roleChannelState
	case "PartsProducedInLifetime":
		return roleParts
	case "SpindleSpeed":
		return roleSpindleSpeed
	}
	if slices.Contains(spindleSpeedNames, browseName) && strings.Contains(strings.ToLower(parentBrowseName), "spindle") {
		return roleSpindleSpeed
	}
	return ""
}

// SuggestField is the signal name `gateway browse -emit-config` makes of a browse name:
// lower-case words joined by "_", starting with a letter, at most 64 bytes.
func SuggestField(browseName string) string { return snakeField(browseName) }

// Numeric reports whether a browsed variable carries a number or a Boolean (by its
// value, or by its standard data type when the value could not be read): the variables
// that can be signals without a map.
func (n *BrowseNode) Numeric() bool { return n.class == ua.NodeClassVariable && isNumeric(n) }

// Shown reports whether the browse's Match keeps the node: it matches, lies below a
// match or is the ancestor of one.
func (n *BrowseNode) Shown() bool { return n.shown }

// Repeated reports whether the node was met before elsewhere in the tree (and is not
// expanded again).
func (n *BrowseNode) Repeated() bool { return n.repeated }

// Parent is the node above n in the browsed tree; nil for the start node.
func (n *BrowseNode) Parent() *BrowseNode { return n.parent }

// BrowsePath is the browse_path of a node in the configuration's grammar (as
// -emit-config writes it): from the Objects folder when the browse started there, else
// from the start node (then browse_start is the result's Start).
func (r *BrowseResult) BrowsePath(n *BrowseNode) string {
	var names, uris []string
	for p := n; p != nil && p != r.Root; p = p.parent {
		names = append([]string{p.BrowseName}, names...)
		uris = append([]string{p.NamespaceURI}, uris...)
	}
	if r.defaultStart {
		names = append([]string{"Objects"}, names...)
		uris = append([]string{""}, uris...)
	}
	return formatPath(r.nsOf(r.Root), names, uris)
}

// DefaultStart reports whether the browse started at the Objects folder (BrowsePath
// then needs no browse_start).
func (r *BrowseResult) DefaultStart() bool { return r.defaultStart }

// nsOf is the namespace URI of a node's id.
func (r *BrowseResult) nsOf(n *BrowseNode) string {
	s := n.NodeID
	if !strings.HasPrefix(s, "nsu=") {
		return ""
	}
	u, _, _ := strings.Cut(s[len("nsu="):], ";")
	return unescapeNSU(u)
}

// isNumeric reports whether a variable carries a number or a Boolean: by its value,
// or by its standard data type when the value could not be read.
func isNumeric(n *BrowseNode) bool {
	switch n.value.(type) {
	case bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64:
		return true
	case nil:
		dt := n.dataType
		return n.status != ua.StatusOK && dt != nil && dt.Namespace() == 0 && dt.Type() != ua.NodeIDTypeString &&
			dt.IntID() >= 1 && dt.IntID() <= 11
	}
	return false
}

func isText(n *BrowseNode) bool {
	_, ok := n.value.(string)
	return ok
}

// snake turns a browse name into lower-case words joined by "_": "PartsProducedInLifetime"
// becomes "parts_produced_in_lifetime", "EURange" "eu_range". Characters other than
// ASCII letters and digits separate words.
func snake(s string) string {
	rs := []rune(s)
	var out []rune
	sep := func() {
		if len(out) > 0 && out[len(out)-1] != '_' {
			out = append(out, '_')
		}
	}
	isUpper := func(r rune) bool { return 'A' <= r && r <= 'Z' }
	isLower := func(r rune) bool { return 'a' <= r && r <= 'z' }
	isDigit := func(r rune) bool { return '0' <= r && r <= '9' }
	for i, r := range rs {
		switch {
		case isUpper(r):
			if i > 0 && (isLower(rs[i-1]) || isDigit(rs[i-1]) || isUpper(rs[i-1]) && i+1 < len(rs) && isLower(rs[i+1])) {
				sep()
			}
			out = append(out, r-'A'+'a')
		case isLower(r) || isDigit(r):
			out = append(out, r)
		default:
			sep()
		}
	}
	return strings.Trim(string(out), "_")
}

// maxIDLen bounds, in bytes, a device id or signal name made from a browse name: a
// YAML mapping key may not be longer than 1024 characters, and ids become TSDB tags.
const maxIDLen = 64

// cutID cuts a snake id to maxIDLen bytes (it is ASCII).
func cutID(s string) string {
	if len(s) <= maxIDLen {
		return s
	}
	return strings.TrimRight(s[:maxIDLen], "_")
}

// maxShownText bounds, in characters, a text from the server in the tree view and in
// the comments of the emitted configuration.
const maxShownText = 200

// shownText makes a text the server supplied safe for a terminal and for a YAML
// comment: one line, every character that is not printable (control characters such
// as newline and NUL, the ESC of ANSI sequences, format characters such as
// bidirectional overrides, bytes that are not UTF-8) escaped as in a Go string
// literal, and cut after maxShownText characters.
func shownText(s string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if n == maxShownText {
			b.WriteString("…")
			break
		}
		n++
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// snakeField is snake for a signal name: it starts with a letter and does not end in
// "_quality" (reserved).
func snakeField(s string) string {
	f := cutID(snake(s))
	switch {
	case f == "":
		f = "signal"
	case f[0] >= '0' && f[0] <= '9':
		f = "v_" + f
	}
	if strings.HasSuffix(f, "_quality") {
		f += "_value"
	}
	return f
}

// snakeID is snake for a device id.
func snakeID(s string) string {
	if f := cutID(snake(s)); f != "" {
		return f
	}
	return "device"
}

// PathNames returns the browse names of a browse path's elements from the last one up,
// as many as SuggestRole looks at; an empty path gives none.
func PathNames(browsePath string) ([]string, error) {
	if browsePath == "" {
		return nil, nil
	}
	elems, err := parseBrowsePath(browsePath)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := len(elems) - 1; i >= 0 && len(names) < suggestDepth; i-- {
		names = append(names, elems[i].name)
	}
	return names, nil
}
