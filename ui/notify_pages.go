package ui

import (
	"net/http"
)

func init() { pages = append(pages, (*Server).notifyPages) }

// NotifyPageView is the notifications page.
type NotifyPageView struct {
	NotifyView
	CSRF    string
	IsAdmin bool
	Msg     string
	Err     string
}

func (s *Server) notifyPages() {
	render := func(w http.ResponseWriter, r *http.Request, sess *Session, msg, errMsg string) error {
		v := NotifyPageView{NotifyView: s.o.Backend.Notifications(), CSRF: sess.CSRF, IsAdmin: sess.Role.AtLeast(RoleAdmin), Msg: msg, Err: errMsg}
		return s.render(w, r, sess, "Notifications", notifyView(v))
	}
	s.handle("GET", "/notifications", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return render(w, r, sess, "", "")
	})
	s.handle("POST", "/notifications/test", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		ch := r.PostForm.Get("channel")
		ans, err := s.o.Backend.SendTest(r.Context(), ch)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return render(w, r, sess, "", "test to "+ch+" failed: "+err.Error())
		}
		return render(w, r, sess, "test message sent to "+ch+": "+ans, "")
	})
}
