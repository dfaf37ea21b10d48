import { readFileSync } from 'node:fs';
import { UsageError } from './errors.js';

/** Parsers of option values, each message naming where the value came from (flag or variable). */

export interface Source {
  value: string;
  /** How the user set it, for messages: "--nodes" or "KUBEVIRT_NUM_NODES". */
  via: string;
}

export function boolean(src: Source): boolean {
  const v = src.value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  throw new UsageError(`${src.via}: "${src.value}" is not true or false`);
}

export function integer(src: Source, min: number, max: number, fix: string): number {
  if (!/^\d+$/.test(src.value.trim())) {
    throw new UsageError(`${src.via}: "${src.value}" is not a whole number; ${fix}`);
  }
  const n = Number(src.value.trim());
  if (n < min || n > max) {
    throw new UsageError(`${src.via}: ${n} is out of range; ${fix}`);
  }
  return n;
}

/** Parses a memory size: plain numbers are MiB (kubevirtci's habit), M/Mi/MB and G/Gi/GB suffixes. */
export function parseMemoryMiB(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m|mi|mb|mib|g|gi|gb|gib)?\s*$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'm').toLowerCase();
  const mib = unit.startsWith('g') ? n * 1024 : n;
  return Number.isInteger(mib) ? mib : undefined;
}

export function splitArgs(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/** What the host can give; injectable so that tests do not depend on the machine. */
export interface HostFacts {
  memAvailableMiB: number;
}

export function readHostFacts(): HostFacts {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const kb = Number(/^MemAvailable:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  return { memAvailableMiB: Math.floor(kb / 1024) };
}

export function kubernetesOption(src: Source): string {
  const v = src.value.trim().replace(/^v/, '');
  if (v === 'none' || v === 'auto' || /^1\.\d{1,2}$/.test(v)) return v;
  throw new UsageError(
    `${src.via}: "${src.value}" is not a Kubernetes version; give a minor version such as 1.36, auto (the default minor when its artefacts can be had) or none for the OVS-DPDK nodes alone`,
  );
}

/**
 * A duration in seconds from "1800", "90s", "30m" or "1h30m"; undefined when not given. option names the
 * flag or variable for the message.
 */
export function parseDuration(text: string | undefined, option: string): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const t = text.trim().toLowerCase();
  let seconds: number | undefined;
  if (/^\d+$/.test(t)) seconds = Number(t);
  else {
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t);
    if (m && (m[1] ?? m[2] ?? m[3]) !== undefined) seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  }
  if (seconds === undefined || seconds < 10) {
    throw new UsageError(`${option}: "${text}" is not a duration of at least 10 seconds; write it like 1800, 90s, 30m or 1h`);
  }
  return seconds;
}
