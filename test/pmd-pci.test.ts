import { expect } from 'chai';
import { isPciAddress } from '../src/pmd/dpdk.js';

describe('pmd: telling a NIC from a virtual device', () => {
  it('recognises PCI addresses, with or without domain and devargs', () => {
    for (const d of ['0000:3b:00.0', '3b:00.1', '0000:af:00.7,rxq_cqe_comp_en=1']) expect(isPciAddress(d), d).to.equal(true);
    for (const d of ['net_tap0,iface=tz0', 'net_af_packet0,iface=veth0', 'net_ring0', '3b:00.8', 'mem', '0000:3b:00.0x']) expect(isPciAddress(d), d).to.equal(false);
  });
});
