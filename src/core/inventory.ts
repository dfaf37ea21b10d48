/**
 * The inventory of `--provider hosts` as the CLI hands it down: the machines that become the cluster's nodes,
 * read and validated once by providers/hosts/inventory.ts. Only the types live here, beside the options.
 */

export interface InventoryHost {
  name: string;
  address: string;
  port: number;
  user: string;
  /** Absolute path of the private key dpdkci logs in with. */
  keyFile: string;
  /** Pinned host keys, "TYPE BASE64". */
  hostKeys: string[];
  role: 'control-plane' | 'worker';
  nic: { pci: string } | { iface: string };
  /** The host's IPv4 address on the network the hosts share: the kubelet's node IP (with --kubernetes). */
  nodeIp?: string;
}

export interface Inventory {
  /** Absolute path of the inventory file. */
  file: string;
  hosts: InventoryHost[];
}
