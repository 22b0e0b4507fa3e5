import { describe, expect, it } from '@jest/globals';
import { parseCmdline, parseProcNetTcp, parseProcStat } from '../../../src/stack/proc.js';

describe('parseProcStat', () => {
  it('reads state, process group and start time', () => {
    const text =
      '23492 (cat) R 23490 23490 12696 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 52487 3133440 412 18446744073709551615 0\n';
    expect(parseProcStat(text)).toEqual({ state: 'R', pgid: 23490, startTime: 52487 });
  });

  it('counts fields from the last parenthesis, since a command name may contain spaces and parentheses', () => {
    const text = '42 (evil) (name x) S 1 42 42 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 777 3133440 412\n';
    expect(parseProcStat(text)).toEqual({ state: 'S', pgid: 42, startTime: 777 });
  });

  it('rejects text that is not a stat line', () => {
    expect(parseProcStat('')).toBeUndefined();
    expect(parseProcStat('42 (x) S 1')).toBeUndefined();
  });
});

describe('parseCmdline', () => {
  it('splits NUL-separated arguments and drops the trailing NUL', () => {
    expect(parseCmdline('/bin/temporal\0server\0start-dev\0')).toEqual([
      '/bin/temporal',
      'server',
      'start-dev',
    ]);
    expect(parseCmdline('')).toEqual([]);
  });
});

describe('parseProcNetTcp', () => {
  it('reads local ports, states and inodes, skipping the header', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:4321 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1156 1 0 100 0 0 10 0',
      '   1: 0100007F:4321 0100007F:D2F0 06 00000000:00000000 03:00000E3F 00000000     0        0 0 3 0',
      '',
    ].join('\n');
    expect(parseProcNetTcp(text)).toEqual([
      { localPort: 0x4321, state: '0A', inode: 1156 },
      { localPort: 0x4321, state: '06', inode: 0 },
    ]);
  });
});
