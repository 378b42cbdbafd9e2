package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "ntfy", Summary: "ntfy push (url: https://ntfy.sh/<topic>)", New: newNtfy})
}

// ntfy publishes to an ntfy server's JSON endpoint: the server root gets
// a body naming the topic (the URL's last path element).
type ntfy struct {
	hook
	root, topic string
	host        string
	token       string
}

func newNtfy(opts checks.Options) (Channel, error) {
	var o struct {
		URL   string        `yaml:"url"`
		Token checks.Secret `yaml:"token"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	u, err := httpURL("url", o.URL)
	if err != nil {
		return nil, err
	}
	path := strings.Trim(u.Path, "/")
	i := strings.LastIndexByte(path, '/')
	topic := path[i+1:]
	if topic == "" {
		return nil, &checks.FieldError{Field: "url", Msg: "needs the topic as its last path element (https://ntfy.sh/<topic>)"}
	}
	root := *u
	root.Path = "/" + path[:max(i, 0)]
	return &ntfy{hook: newHook(), root: root.String(), topic: topic, host: u.Host, token: o.Token.Reveal()}, nil
}

// Recipient is the server and topic.
func (n *ntfy) Recipient() string { return n.host + "/" + n.topic }

// Send publishes the message.
func (n *ntfy) Send(ctx context.Context, m Message) (string, error) {
	body, _ := json.Marshal(ntfyBody(n.topic, m))
	h := http.Header{}
	if n.token != "" {
		h.Set("Authorization", "Bearer "+n.token)
	}
	return n.post(ctx, n.root, "application/json", body, h, m.ID)
}

func ntfyBody(topic string, m Message) map[string]any {
	prio := 3
	switch {
	case m.Kind == "resolved" || m.Kind == "self-healed":
		prio = 2
	case m.Severity == "critical":
		prio = 5
	case m.Severity == "warning":
		prio = 4
	}
	b := map[string]any{"topic": topic, "title": m.Subject(), "message": truncate(m.Text(), 4000), "priority": prio, "tags": []string{m.Severity}}
	if m.AckURL != "" {
		b["actions"] = []any{map[string]string{"action": "view", "label": "Acknowledge", "url": m.AckURL}}
		b["click"] = m.AckURL
	}
	return b
}
