package notify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "sms", Summary: "SMS through a Twilio-compatible Messages API", New: newSMS})
}

// sms sends through a Twilio-compatible Messages API: a form POST with
// basic auth (account SID and token), one message per number.
type sms struct {
	hook
	url, host string
	auth      string
	from      string
	to        []string

	// progress remembers, per message id, the numbers a message is done
	// with (sent, or refused for good), so that a retry after one number
	// failed texts only the numbers still owed it: a gateway does not
	// drop a repeat by the idempotency key, and each repeat is a text on
	// someone's phone. Entries go when the message is done; order bounds
	// how many unfinished ones are kept (oldest forgotten first).
	mu       sync.Mutex
	progress map[string]map[string]smsOutcome
	order    []string
}

// smsOutcome is how one number's text of a message ended: sent (the
// gateway's answer), or refused for good (the error).
type smsOutcome struct {
	answer  string
	refused error
}

// maxSMSProgress bounds the messages whose partial delivery an sms
// channel remembers; a message given up on by the outbox is forgotten
// once this many newer ones have been part-delivered.
const maxSMSProgress = 256

func newSMS(opts checks.Options) (Channel, error) {
	var o struct {
		URL     string        `yaml:"url"`
		Account string        `yaml:"account"`
		Token   checks.Secret `yaml:"token"`
		From    string        `yaml:"from"`
		To      []string      `yaml:"to"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	for _, req := range []struct{ field, val string }{{"account", o.Account}, {"token", string(o.Token)}, {"from", o.From}} {
		if req.val == "" {
			return nil, &checks.FieldError{Field: req.field, Msg: "is required"}
		}
	}
	if len(o.To) == 0 {
		return nil, &checks.FieldError{Field: "to", Msg: "needs at least one phone number"}
	}
	for _, n := range append([]string{o.From}, o.To...) {
		if !strings.HasPrefix(n, "+") || len(n) < 8 || strings.Trim(n[1:], "0123456789") != "" {
			return nil, &checks.FieldError{Field: "to", Msg: fmt.Sprintf("%q is not a phone number in E.164 form (+15551234567)", n)}
		}
	}
	if o.URL == "" {
		o.URL = "https://api.twilio.com/2010-04-01/Accounts/" + url.PathEscape(o.Account) + "/Messages.json"
	}
	u, err := httpURL("url", o.URL)
	if err != nil {
		return nil, err
	}
	return &sms{hook: newHook(), url: o.URL, host: u.Host, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(o.Account+":"+o.Token.Reveal())), from: o.From, to: o.To,
		progress: map[string]map[string]smsOutcome{}}, nil
}

// Recipient lists the numbers.
func (s *sms) Recipient() string { return strings.Join(s.to, ", ") }

// Send texts a short form of the message to each number it is still owed
// to: every number is tried, and those that fail are retried alone (the
// numbers already texted are not texted again). A transient failure for
// any number fails the message so it is retried (with the longest
// Retry-After asked for); when the only failures are permanent (a number
// the gateway refuses) the message fails for good, naming them. The
// answer lists each number's outcome, including those of earlier
// attempts.
func (s *sms) Send(ctx context.Context, m Message) (string, error) {
	text := m.Subject()
	if m.AckURL != "" {
		text = truncate(text, 1500) + " Ack: " + m.AckURL
	}
	h := http.Header{"Authorization": {s.auth}}
	done := s.done(m.ID)
	var answers, failed, sent []string
	var retry, refused []error
	for _, to := range s.to {
		if o, ok := done[to]; ok {
			if o.refused != nil {
				refused = append(refused, o.refused)
			} else {
				sent = append(sent, to)
			}
			answers = append(answers, to+": "+o.answer+" (earlier attempt)")
			continue
		}
		if err := ctx.Err(); err != nil {
			failed, retry = append(failed, to), append(retry, fmt.Errorf("to %s: not tried: %w", to, err))
			continue
		}
		form := url.Values{"From": {s.from}, "To": {to}, "Body": {truncate(text, 1600)}}
		ans, err := s.post(ctx, s.url, "application/x-www-form-urlencoded", []byte(form.Encode()), h, m.ID+":"+to)
		switch {
		case err == nil:
			s.mark(m.ID, to, smsOutcome{answer: ans})
			sent = append(sent, to)
			answers = append(answers, to+": "+ans)
		case IsPermanent(err):
			o := smsOutcome{answer: err.Error(), refused: fmt.Errorf("to %s: %w", to, err)}
			s.mark(m.ID, to, o)
			refused = append(refused, o.refused)
			answers = append(answers, to+": "+o.answer)
		default:
			failed, retry = append(failed, to), append(retry, fmt.Errorf("to %s: %w", to, err))
			answers = append(answers, to+": "+err.Error())
		}
	}
	answer := strings.Join(answers, "; ")
	if len(retry) > 0 {
		// Refusals are named, not wrapped: the message is retried (for
		// the numbers that may still take it), not given up.
		msg := joinErrors(append(retry, refused...))
		if len(sent) > 0 {
			msg += "; sent to " + strings.Join(sent, ", ")
		}
		err := fmt.Errorf("%s; retrying only %s", msg, strings.Join(failed, ", "))
		var wait *RetryAfterError
		for _, e := range retry {
			var ra *RetryAfterError
			if errors.As(e, &ra) && (wait == nil || ra.After > wait.After) {
				wait = ra
			}
		}
		if wait != nil {
			return answer, &RetryAfterError{Err: err, After: wait.After}
		}
		return answer, err
	}
	s.forget(m.ID)
	if len(refused) > 0 {
		msg := joinErrors(refused)
		if len(sent) > 0 {
			msg += "; sent to " + strings.Join(sent, ", ")
		}
		return answer, &PermanentError{errors.New(msg)}
	}
	return answer, nil
}

// joinErrors is the errors' messages on one line (the delivery log's).
func joinErrors(errs []error) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// done is a copy of the numbers message id is done with, and their
// outcomes.
func (s *sms) done(id string) map[string]smsOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]smsOutcome{}
	for n, a := range s.progress[id] {
		out[n] = a
	}
	return out
}

// mark records that message id is done with number, and how.
func (s *sms) mark(id, number string, outcome smsOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.progress[id]
	if !ok {
		p = map[string]smsOutcome{}
		s.progress[id] = p
		s.order = append(s.order, id)
		for len(s.order) > maxSMSProgress {
			delete(s.progress, s.order[0])
			s.order = s.order[1:]
		}
	}
	p[number] = outcome
}

// forget drops a finished message's progress.
func (s *sms) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.progress[id]; !ok {
		return
	}
	delete(s.progress, id)
	for i, o := range s.order {
		if o == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}
