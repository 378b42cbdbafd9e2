//go:build !unix

package provision

import "io/fs"

// checkOwner accepts any key file here: on Windows who may write the data
// folder is the folder's ACL, which the installer does not set yet.
func checkOwner(path string, fi fs.FileInfo) error { return nil }
