// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3 at the version pinned in
// ../../go.mod (the same entry point as etcd's own main.go, which lives in a module with replace
// directives that `go install` refuses).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
