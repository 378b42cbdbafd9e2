package hq

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

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
	return s.db.Update(func(tx *bolt.Tx) error {
		ub := tx.Bucket(bucketUsers)
		if v := ub.Get([]byte(name)); v != nil {
			if !replace {
				return fmt.Errorf("user %s exists (outpost hq user passwd %s sets a new password)", name, name)
			}
			if err := deleteUserSessions(tx, name); err != nil {
				return err
			}
		} else if replace {
			return fmt.Errorf("no user %s (outpost hq user add %s)", name, name)
		}
		v, err := json.Marshal(hqui.User{Name: name, Hash: hash, Created: s.clock.Now().UTC()})
		if err != nil {
			return err
		}
		return ub.Put([]byte(name), v)
	})
}

// DeleteUser removes an account and ends its sessions.
func (s *Server) DeleteUser(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(name)) == nil {
			return fmt.Errorf("no user %s", name)
		}
		if err := deleteUserSessions(tx, name); err != nil {
			return err
		}
		return tx.Bucket(bucketUsers).Delete([]byte(name))
	})
}

// UserInfo is an account as `hq user list` shows it.
type UserInfo struct {
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	Sessions int       `json:"sessions"`
}

// ListUsers lists the accounts by name.
func (s *Server) ListUsers() ([]UserInfo, error) {
	var out []UserInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		open := map[string]int{}
		tx.Bucket(bucketSessions).ForEach(func(_, v []byte) error {
			var ss hqui.Session
			if json.Unmarshal(v, &ss) == nil {
				open[ss.User]++
			}
			return nil
		})
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u hqui.User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("user %s: %w", k, err)
			}
			out = append(out, UserInfo{Name: u.Name, Created: u.Created, Sessions: open[u.Name]})
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// CountUsers counts the accounts.
func (s *Server) CountUsers() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketUsers).Stats().KeyN
		return nil
	})
	return n, err
}

// GetUser reads an account.
func (s *Server) GetUser(name string) (hqui.User, bool, error) {
	var u hqui.User
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(name))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &u)
	})
	return u, ok, err
}

// PutSession stores a session under its token's hash, ending the
// user's oldest beyond maxSessions.
func (s *Server) PutSession(ss hqui.Session) error {
	v, err := json.Marshal(ss)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		type held struct {
			key     []byte
			created time.Time
		}
		var mine []held
		sb := tx.Bucket(bucketSessions)
		sb.ForEach(func(k, v []byte) error {
			var o hqui.Session
			if json.Unmarshal(v, &o) == nil && o.User == ss.User {
				mine = append(mine, held{append([]byte(nil), k...), o.Created})
			}
			return nil
		})
		sort.Slice(mine, func(i, j int) bool { return mine[i].created.Before(mine[j].created) })
		for i := 0; i+maxSessions <= len(mine); i++ {
			if err := sb.Delete(mine[i].key); err != nil {
				return err
			}
		}
		return sb.Put(sessionKey(ss.Token), v)
	})
}

// GetSession finds a session by its token.
func (s *Server) GetSession(token string) (hqui.Session, bool, error) {
	var ss hqui.Session
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get(sessionKey(token))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &ss)
	})
	ss.Token = token
	return ss, ok, err
}

// DeleteSession ends one session.
func (s *Server) DeleteSession(token string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Delete(sessionKey(token)) })
}

// DeleteUserSessions ends every session of a user.
func (s *Server) DeleteUserSessions(user string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return deleteUserSessions(tx, user) })
}

func deleteUserSessions(tx *bolt.Tx, user string) error {
	return deleteSessionsIf(tx, func(ss hqui.Session) bool { return ss.User == user })
}

func deleteSessionsIf(tx *bolt.Tx, gone func(hqui.Session) bool) error {
	sb := tx.Bucket(bucketSessions)
	var keys [][]byte
	sb.ForEach(func(k, v []byte) error {
		var ss hqui.Session
		if json.Unmarshal(v, &ss) != nil || gone(ss) {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range keys {
		if err := sb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) sweepSessions(now time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return deleteSessionsIf(tx, func(ss hqui.Session) bool { return !now.Before(ss.Expires) })
	})
}
