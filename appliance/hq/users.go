package hq

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"time"

	hqui "outpost/ui/hq"
)

// The fleet pages' accounts and sessions. Sessions are stored under the
// SHA-256 of their token, so the store file holds nothing that logs in.

var _ hqui.Users = (*Server)(nil)

// maxSessions bounds one user's sessions; the oldest go.
const maxSessions = 20

func sessionKey(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// AddUser creates a fleet page account under the box UI's rules (user
// name, password strength); replace sets a new password for an existing
// one and ends its sessions.
func (s *Server) AddUser(name, password string, replace bool) error {
	return s.AddAccount(UserRequest{Name: name, Password: password, Replace: replace})
}

// AddAccount is AddUser with a role and the sites a technician or
// viewer sees; a new password for an existing account keeps its role and
// sites unless the request names them.
func (s *Server) AddAccount(req UserRequest) error {
	name, password, replace := req.Name, req.Password, req.Replace
	if err := hqui.ValidRole(req.Role); err != nil {
		return err
	}
	for _, site := range req.Sites {
		if err := validSite(site); err != nil || site == "" {
			return fmt.Errorf("--site %q: a site's name or box id", site)
		}
	}
	if err := hqui.ValidUserName(name); err != nil {
		return err
	}
	if err := hqui.CheckPassword(name, password); err != nil {
		return err
	}
	hash, err := hqui.HashPassword(password)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx Tx) error {
		old, found, err := tx.User(name)
		if err != nil {
			return err
		}
		role, sites := req.Role, req.Sites
		if found && replace {
			if role == "" {
				role = old.Role
			}
			if sites == nil {
				sites = old.Sites
			}
		}
		if found {
			if !replace {
				return fmt.Errorf("user %s exists (outpost hq user passwd %s sets a new password)", name, name)
			}
			if err := deleteUserSessions(tx, name); err != nil {
				return err
			}
		} else if replace {
			return fmt.Errorf("no user %s (outpost hq user add %s)", name, name)
		}
		return tx.PutUser(hqui.User{Name: name, Hash: hash, Created: s.clock.Now().UTC(), Role: role, Sites: sites})
	})
}

// DeleteUser removes an account and ends its sessions.
func (s *Server) DeleteUser(name string) error {
	return s.db.Update(func(tx Tx) error {
		if _, found, err := tx.User(name); err != nil || !found {
			if err == nil {
				err = fmt.Errorf("no user %s", name)
			}
			return err
		}
		if err := deleteUserSessions(tx, name); err != nil {
			return err
		}
		return tx.DeleteUser(name)
	})
}

// UserInfo is an account as `hq user list` shows it.
type UserInfo struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Sites    []string  `json:"sites,omitempty"`
	Created  time.Time `json:"created"`
	Sessions int       `json:"sessions"`
}

// ListUsers lists the accounts by name.
func (s *Server) ListUsers() ([]UserInfo, error) {
	var out []UserInfo
	err := s.db.View(func(tx Tx) error {
		open := map[string]int{}
		if err := tx.Sessions(func(_ []byte, ss hqui.Session, bad bool) error {
			if !bad {
				open[ss.User]++
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Users(func(u hqui.User) error {
			role := u.Role
			if role == "" {
				role = hqui.RoleAdmin
			}
			out = append(out, UserInfo{Name: u.Name, Role: role, Sites: u.Sites, Created: u.Created, Sessions: open[u.Name]})
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// CountUsers counts the accounts.
func (s *Server) CountUsers() (int, error) {
	var n int
	err := s.db.View(func(tx Tx) (err error) {
		n, err = tx.CountUsers()
		return err
	})
	return n, err
}

// GetUser reads an account.
func (s *Server) GetUser(name string) (hqui.User, bool, error) {
	var u hqui.User
	var ok bool
	err := s.db.View(func(tx Tx) (err error) {
		u, ok, err = tx.User(name)
		return err
	})
	return u, ok, err
}

// PutSession stores a session under its token's hash, ending the
// user's oldest beyond maxSessions.
func (s *Server) PutSession(ss hqui.Session) error {
	return s.db.Update(func(tx Tx) error {
		type held struct {
			key     []byte
			created time.Time
		}
		var mine []held
		if err := tx.Sessions(func(k []byte, o hqui.Session, bad bool) error {
			if !bad && o.User == ss.User {
				mine = append(mine, held{k, o.Created})
			}
			return nil
		}); err != nil {
			return err
		}
		sort.Slice(mine, func(i, j int) bool { return mine[i].created.Before(mine[j].created) })
		for i := 0; i+maxSessions <= len(mine); i++ {
			if err := tx.DeleteSession(mine[i].key); err != nil {
				return err
			}
		}
		return tx.PutSession(sessionKey(ss.Token), ss)
	})
}

// GetSession finds a session by its token.
func (s *Server) GetSession(token string) (hqui.Session, bool, error) {
	var ss hqui.Session
	var ok bool
	err := s.db.View(func(tx Tx) (err error) {
		ss, ok, err = tx.Session(sessionKey(token))
		return err
	})
	ss.Token = token
	return ss, ok, err
}

// DeleteSession ends one session.
func (s *Server) DeleteSession(token string) error {
	return s.db.Update(func(tx Tx) error { return tx.DeleteSession(sessionKey(token)) })
}

// DeleteUserSessions ends every session of a user.
func (s *Server) DeleteUserSessions(user string) error {
	return s.db.Update(func(tx Tx) error { return deleteUserSessions(tx, user) })
}

func deleteUserSessions(tx Tx, user string) error {
	return deleteSessionsIf(tx, func(ss hqui.Session) bool { return ss.User == user })
}

func deleteSessionsIf(tx Tx, gone func(hqui.Session) bool) error {
	return tx.Sessions(func(k []byte, ss hqui.Session, bad bool) error {
		if bad || gone(ss) {
			return tx.DeleteSession(k)
		}
		return nil
	})
}

func (s *Server) sweepSessions(now time.Time) error {
	return s.db.Update(func(tx Tx) error {
		return deleteSessionsIf(tx, func(ss hqui.Session) bool { return !now.Before(ss.Expires) })
	})
}
