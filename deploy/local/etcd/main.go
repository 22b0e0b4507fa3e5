// Command etcd is the etcd server for the local stack's Kubernetes cluster, built from etcd's Go module: Debian's
// etcd 3.4 is older than the Kubernetes 1.34 API server supports.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
