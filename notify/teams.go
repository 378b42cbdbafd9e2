package notify

import "strings"

func init() {
	Register(Kind{Name: "teams", Summary: "Microsoft Teams Workflows webhook (Adaptive Card)", New: shaped(teamsBody)})
}

// teamsBody is an Adaptive Card message for a Teams Workflows webhook
// ("Post to a channel when a webhook request is received").
func teamsBody(m Message) any {
	facts := []map[string]string{{"title": "Site", "value": m.Site}, {"title": "Device", "value": m.Device}, {"title": "Check", "value": m.Check}, {"title": "Severity", "value": m.Severity}}
	if !m.Since.IsZero() {
		facts = append(facts, map[string]string{"title": "Since", "value": m.Since.Format("2006-01-02 15:04 MST")})
	}
	if len(m.Healing) > 0 {
		facts = append(facts, map[string]string{"title": "Healing", "value": strings.Join(m.Healing, "; ")})
	}
	body := []any{
		map[string]any{"type": "TextBlock", "text": m.Subject(), "weight": "Bolder", "wrap": true},
		map[string]any{"type": "TextBlock", "text": m.Summary, "wrap": true},
		map[string]any{"type": "FactSet", "facts": facts},
	}
	for _, g := range m.Grouped {
		body = append(body, map[string]any{"type": "TextBlock", "wrap": true, "text": g.Check + " on " + g.Device + ": " + g.Summary})
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
	if m.AckURL != "" {
		card["actions"] = []any{map[string]string{"type": "Action.OpenUrl", "title": "Acknowledge", "url": m.AckURL}}
	}
	return map[string]any{"type": "message", "attachments": []any{map[string]any{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}}}
}
