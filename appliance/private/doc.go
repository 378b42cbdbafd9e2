// Package private protects a data directory on Windows, where file modes
// do not: the box's and the agent's data folders get an access list of
// SYSTEM and Administrators only, owned by Administrators and inheriting
// nothing from %ProgramData% (where every user may create files). On
// Unix the callers use file modes (0700/0750 directories, 0600 keys)
// and this package has nothing to add.
package private
