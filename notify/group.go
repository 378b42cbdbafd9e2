package notify

// group merges messages built in one tick that share a channel, a kind
// and a grouping key (policy, site, parent) into one message: the oldest
// incident's, listing the others. Everything behind one dead switch then
// arrives as one message, and so do its reminders.
func group(items []Item) []Item {
	var out []Item
	first := map[string]int{}
	for _, it := range items {
		if it.group == "" {
			out = append(out, it)
			continue
		}
		key := it.Channel + "\x00" + it.Message.Kind + "\x00" + it.group
		i, seen := first[key]
		if !seen {
			first[key] = len(out)
			out = append(out, it)
			continue
		}
		m := &out[i].Message
		o := it.Message
		m.Parent = parentOf(it)
		m.Grouped = append(m.Grouped, Grouped{Incident: o.Incident, Device: o.Device, Check: o.Check, Severity: o.Severity, Summary: o.Summary, Since: o.Since, AckURL: o.AckURL})
	}
	return out
}

// parentOf reads the parent back from the grouping key.
func parentOf(it Item) string {
	for i := len(it.group) - 1; i >= 0; i-- {
		if it.group[i] == 0 {
			return it.group[i+1:]
		}
	}
	return ""
}
