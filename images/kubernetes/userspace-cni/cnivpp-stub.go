// Package cnivpp, as dpdkci builds the userspace CNI plugin: OVS-DPDK only, without VPP.
//
// Upstream's cnivpp talks to VPP through Go bindings (cnivpp/bin_api/...) generated from a VPP install;
// no tagged tree holds them, so its source cannot be built from a release archive. dpdkci builds with
// `go build -overlay`, which puts this file in place of cnivpp/cnivpp.go and leaves the package's other
// files out. It has the exported API ./userspace calls, from
// intel/userspace-cni-network-plugin@3e14ba36364e5402d731707f9f5904242435d6c7:cnivpp/cnivpp.go (v24.02),
// and every method fails: a network with engine "vpp" is refused like an unknown engine.
//
// Written for dpdkci; not upstream code.
package cnivpp

import (
	"errors"

	"github.com/containernetworking/cni/pkg/skel"
	current "github.com/containernetworking/cni/pkg/types/100"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/intel/userspace-cni-network-plugin/pkg/types"
)

var errNoVpp = errors.New(`the VPP engine is not built into this plugin (dpdkci builds it OVS-only): use engine "ovs-dpdk"`)

// CniVpp is the VPP engine; in this build every call fails with errNoVpp.
type CniVpp struct{}

func (CniVpp) AddOnHost(conf *types.NetConf, args *skel.CmdArgs, kubeClient kubernetes.Interface, sharedDir string, ipResult *current.Result) error {
	return errNoVpp
}

func (CniVpp) AddOnContainer(conf *types.NetConf, args *skel.CmdArgs, kubeClient kubernetes.Interface, sharedDir string, pod *v1.Pod, ipResult *current.Result) (*v1.Pod, error) {
	return nil, errNoVpp
}

func (CniVpp) DelFromHost(conf *types.NetConf, args *skel.CmdArgs, sharedDir string) error {
	return errNoVpp
}

func (CniVpp) DelFromContainer(conf *types.NetConf, args *skel.CmdArgs, sharedDir string, pod *v1.Pod) error {
	return errNoVpp
}
