package notify

func init() {
	Register(Kind{Name: "discord", Summary: "Discord channel webhook", New: shaped(discordBody)})
}

// discordBody is an execute-webhook body; Discord refuses content over
// 2000 characters.
func discordBody(m Message) any {
	return map[string]any{"content": truncate(m.Text(), 2000), "allowed_mentions": map[string]any{"parse": []string{}}}
}
