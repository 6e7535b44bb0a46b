import { describe, expect, it } from 'vitest';
import { TranslationCore } from '../../src/msi/translate.ts';
import { TranslationResult } from '../../src/msi/translation-result.ts';
import { RouteSlot } from '../../src/msi/route-slot.ts';
import { amdCookie, cookieInIntelRange, intelCookie, NO_COOKIE } from '../../src/msi/cookie.ts';
import type { InterruptRemapper } from '../../src/msi/remapper.ts';
import { DeliveryMode } from '../../src/msi/interrupt.ts';

const bare = () => new TranslationCore({});

function tr(core: TranslationCore, addr: bigint, data: number, sid = 0x18) {
  return core.translateMessage({ sourceId: sid, addr, data }, { deliverNow: true });
}

describe('translation core, bare metal (no IOMMU, no hypervisor ABI)', () => {
  it('decodes a compatibility-format MSI: 0xFEE01000 / 0x0031 is vector 0x31, fixed, edge, physical APIC 1', () => {
    const r = tr(bare(), 0xfee01000n, 0x0031);
    expect(r.kind).toBe('deliver');
    expect(r.format).toBe('compat');
    expect(r.msg).toMatchObject({ dest: 1, destWidth: 8, destMode: 0, vector: 0x31, deliveryMode: DeliveryMode.Fixed, trigger: 0 });
    expect(r.cookie).toBe(NO_COOKIE);
  });

  it('reads DM (addr bit 2), RH (bit 3), delivery mode (data 10:8) and trigger (data 15)', () => {
    // addr 0xFEEFF00C: dest 0xFF, RH = 1, DM = 1; data 0x8141: trigger level, delivery mode 1 (lowest priority), vector 0x41
    const r = tr(bare(), 0xfeeff00cn, 0x8141);
    expect(r.msg).toMatchObject({ dest: 0xff, destWidth: 8, destMode: 1, redirectionHint: 1, deliveryMode: 1, trigger: 1, vector: 0x41 });
  });

  it('ignores the 15-bit extension bits when the hypervisor does not offer it', () => {
    // 0xFEE34240 carries ext bits 0x12 in addr 11:5, but bare metal reads only dest 19:12 = 0x34
    const r = tr(bare(), 0xfee34240n, 0x30);
    expect(r.msg.dest).toBe(0x34);
    expect(r.msg.destWidth).toBe(8);
  });

  it('treats any set address bit 63:32 as a memory write that misses the APIC', () => {
    const r = tr(bare(), 0x0000_0123_fee4_5000n, 0x30);
    expect(r.kind).toBe('memory');
    expect(r.memAddr).toBe(0x0000_0123_fee4_5000n);
    expect(r.memData).toBe(0x30);
  });

  it('treats a write outside 0xFEEx_xxxx as memory', () => {
    const r = tr(bare(), 0x1000n, 0xdeadbeef);
    expect(r.kind).toBe('memory');
    expect(r.memAddr).toBe(0x1000n);
  });

  it('does not read vector 0 as a Xen PIRQ unless xenPirq is on', () => {
    expect(tr(bare(), 0xfee46000n, 0).kind).toBe('deliver');
  });
});

describe('translation core, hypervisor ABIs', () => {
  it('15-bit extended destination: addr 11:5 = dest 14:8, so 0xFEE34240 is APIC 0x1234 with a 32-bit destination', () => {
    // 0x34 << 12 = 0x34000 and 0x12 << 5 = 0x240
    const r = tr(new TranslationCore({ extDestId: true }), 0xfee34240n, 0x30);
    expect(r.format).toBe('ext-dest-id');
    expect(r.msg.dest).toBe(0x1234);
    expect(r.msg.destWidth).toBe(32);
  });

  it('15-bit extension leaves a remappable-format address (bit 4) alone', () => {
    const r = tr(new TranslationCore({ extDestId: true }), 0xfee34250n, 0x30);
    expect(r.msg.dest).toBe(0x34);
  });

  it('with a wider ABI on, destination 0xFF is APIC 255 (32-bit width), not the 8-bit broadcast', () => {
    const r = tr(new TranslationCore({ extDestId: true }), 0xfeeff000n, 0x30);
    expect(r.msg).toMatchObject({ dest: 0xff, destWidth: 32 });
  });

  it('Xen PIRQ: vector 0 at 0x1000_FEE46000 is PIRQ 4166 (0x46 | 0x1000)', () => {
    const r = tr(new TranslationCore({ xenPirq: true }), 0x0000_1000_fee4_6000n, 0x0000);
    expect(r.kind).toBe('pirq');
    expect(r.pirq).toBe(4166);
  });

  it('Xen PIRQ does not claim messages with a vector', () => {
    const r = tr(new TranslationCore({ xenPirq: true }), 0xfee46000n, 0x0031);
    expect(r.kind).toBe('deliver');
  });

  it('KVM x2APIC API: address_hi 0x100 with dest 0x23 is APIC 0x123', () => {
    const r = tr(new TranslationCore({ x2apicApi: true }), 0x0000_0100_fee2_3000n, 0x40);
    expect(r.format).toBe('kvm-x2apic-api');
    expect(r.msg).toMatchObject({ dest: 0x123, destWidth: 32, vector: 0x40 });
  });

  it('KVM x2APIC API refuses address_hi with bits 7:0 set, as kvm_msi_route_invalid does', () => {
    const r = tr(new TranslationCore({ x2apicApi: true }), 0x0000_0001_fee2_3000n, 0x40);
    expect(r.kind).toBe('fault');
    expect(r.fault?.unit).toBe('hypervisor');
  });

  it('Windows high bits: APIC 0x12345 written as 0x00000123_FEE45000 is delivered when the workaround is on', () => {
    // dest 31:8 = 0x123 in addr 55:32; dest 7:0 = 0x45 in addr 19:12
    const r = tr(new TranslationCore({ windowsHighAddressBits: true }), 0x0000_0123_fee4_5000n, 0x41);
    expect(r.format).toBe('windows-high-bits');
    expect(r.msg).toMatchObject({ dest: 0x12345, destWidth: 32, vector: 0x41 });
  });

  it('Windows workaround does not claim an address with bits 63:56 set', () => {
    const r = tr(new TranslationCore({ windowsHighAddressBits: true }), 0x0100_0000_fee4_5000n, 0x41);
    expect(r.kind).toBe('memory');
  });
});

describe('translation core with an interrupt remapper', () => {
  function fakeRemapper(kind: 'intel-vtd' | 'amd-vi', decide: (sid: number, lo: number, data: number, deliverNow: boolean, out: TranslationResult) => boolean) {
    const calls: { sid: number; deliverNow: boolean }[] = [];
    const remapper: InterruptRemapper = {
      kind,
      remap(sid, _hi, lo, data, deliverNow, out) {
        calls.push({ sid, deliverNow });
        return decide(sid, lo, data, deliverNow, out);
      },
    };
    return { remapper, calls };
  }

  it('hands every interrupt-window request to the remapper with the requester ID and deliverNow', () => {
    const core = bare();
    const { remapper, calls } = fakeRemapper('intel-vtd', () => false);
    core.remapper = remapper;
    core.translateMessage({ sourceId: 0x0118, addr: 0xfee00000n, data: 0x30 }, { deliverNow: false });
    expect(calls).toEqual([{ sid: 0x0118, deliverNow: false }]);
  });

  it('uses the remapper decision when it takes one', () => {
    const core = bare();
    core.remapper = fakeRemapper('intel-vtd', (_s, _l, _d, _n, out) => {
      out.kind = 'deliver';
      out.format = 'intel-irte';
      out.msg.dest = 0x1_0000;
      out.msg.destWidth = 32;
      out.msg.vector = 0x55;
      out.cookie = intelCookie(7);
      return true;
    }).remapper;
    const r = tr(core, 0xfee000f8n, 0);
    expect(r).toMatchObject({ kind: 'deliver', format: 'intel-irte' });
    expect(r.msg.dest).toBe(0x10000);
    expect(cookieInIntelRange(r.cookie, 7, 1)).toBe(true);
  });

  it('decodes a passed-through request as compatibility format, naming the AMD DTE in the cookie', () => {
    const core = bare();
    core.remapper = fakeRemapper('amd-vi', () => false).remapper;
    const r = tr(core, 0xfee02000n, 0x31, 0x0010);
    expect(r).toMatchObject({ kind: 'deliver', format: 'amd-passthrough' });
    expect(r.msg.dest).toBe(2);
    expect(r.cookie).toBe(amdCookie(0x0010, 0xffff));
  });

  it('does not offer a memory-bound write (high bits, no ABI) to the remapper', () => {
    const core = bare();
    const { remapper, calls } = fakeRemapper('intel-vtd', () => true);
    core.remapper = remapper;
    expect(tr(core, 0x1_fee00000n, 0).kind).toBe('memory');
    expect(calls).toHaveLength(0);
  });
});

describe('route slots', () => {
  it('caches a successful route and serves it while the message is unchanged', () => {
    const core = bare();
    let remaps = 0;
    core.remapper = {
      kind: 'intel-vtd',
      remap(_sid, _hi, _lo, _data, _now, out) {
        remaps++;
        out.kind = 'deliver';
        out.msg.vector = 0x40;
        out.cookie = intelCookie(3);
        return true;
      },
    };
    const slot = new RouteSlot();
    core.route(1, 0, 0xfee00070, 0, slot);
    core.route(1, 0, 0xfee00070, 0, slot);
    expect(remaps).toBe(1);
    core.route(1, 0, 0xfee00070, 1, slot); // data changed: translate again
    expect(remaps).toBe(2);
  });

  it('evicts exactly the routes whose cookie an invalidation names', () => {
    const core = bare();
    core.remapper = {
      kind: 'intel-vtd',
      remap(_sid, _hi, lo, _data, _now, out) {
        out.kind = 'deliver';
        out.cookie = intelCookie((lo >>> 5) & 0x7fff);
        return true;
      },
    };
    const a = new RouteSlot();
    const b = new RouteSlot();
    core.route(1, 0, 0xfee00000 | (3 << 5) | 0x10, 0, a);
    core.route(1, 0, 0xfee00000 | (9 << 5) | 0x10, 0, b);
    expect(core.cachedRouteCount()).toBe(2);
    core.invalidateRoutes((c) => cookieInIntelRange(c, 0, 4)); // IEC index-selective: indices 0..3
    expect(a.valid).toBe(false);
    expect(b.valid).toBe(true);
    core.invalidateAllRoutes();
    expect(b.valid).toBe(false);
  });

  it('never caches a fault: each occurrence goes back to the IOMMU so it is recorded again', () => {
    const core = bare();
    let remaps = 0;
    core.remapper = {
      kind: 'intel-vtd',
      remap(_sid, _hi, _lo, _data, _now, out) {
        remaps++;
        out.setFault({ unit: 'intel-vtd', code: 0x22, name: 'IRTE not present', detail: '', index: 0, recorded: true });
        return true;
      },
    };
    const slot = new RouteSlot();
    core.route(1, 0, 0xfee00010, 0, slot);
    core.route(1, 0, 0xfee00010, 0, slot);
    expect(remaps).toBe(2);
    expect(slot.valid).toBe(false);
  });
});
