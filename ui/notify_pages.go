package ui

import (
	"context"
	"net/http"
)

func init() { pages = append(pages, (*Server).notifyPages) }

// NotifyBackend is what the notifications page reads and does.
type NotifyBackend interface {
	// Notifications describes channels, policies, on-call and recent
	// deliveries.
	Notifications() NotifyView
	// SendTest sends a test message through a channel and returns the
	// answer. An unknown channel is ENOTFOUND; a delivery that failed is
	// EUPSTREAM, its message saying why.
	SendTest(ctx context.Context, channel string) (string, error)
}

// NotifyPageView is the notifications page.
type NotifyPageView struct {
	NotifyView
	CSRF    string
	IsAdmin bool
	Msg     string
	Err     string
}

func (s *Server) notifyPages() {
	b := s.o.Notify
	if b == nil {
		return
	}
	render := func(w http.ResponseWriter, r *http.Request, sess *Session, msg, errMsg string) error {
		v := NotifyPageView{NotifyView: b.Notifications(), CSRF: sess.CSRF, IsAdmin: sess.Role.AtLeast(RoleAdmin), Msg: msg, Err: errMsg}
		return s.render(w, r, sess, "Notifications", notifyView(v))
	}
	s.handle("GET", "/notifications", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return render(w, r, sess, "", "")
	})
	s.handle("POST", "/notifications/test", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		ch := r.PostForm.Get("channel")
		ans, err := b.SendTest(r.Context(), ch)
		if err != nil {
			return render(w, r, sess, "", "test to "+ch+" failed: "+s.report(w, r, err))
		}
		return render(w, r, sess, "test message sent to "+ch+": "+ans, "")
	})
}
