package notify

func init() {
	Register(Kind{Name: "slack", Summary: "Slack incoming webhook", New: shaped(slackBody)})
}

// slackBody is an incoming-webhook message: the text as a fallback and
// for notifications, one section with the details and a link button.
func slackBody(m Message) any {
	blocks := []any{
		map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": truncate(m.Text(), 3000)}},
	}
	if m.AckURL != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{
			map[string]any{"type": "button", "text": map[string]string{"type": "plain_text", "text": "Acknowledge"}, "url": m.AckURL},
		}})
	}
	return map[string]any{"text": m.Subject(), "blocks": blocks}
}
