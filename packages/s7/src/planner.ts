/**
 * @module
 * The multi-variable read planner. S7comm carries many items per read job, but the job and its
 * answer must each fit the negotiated PDU (Ack_Data header 12 + parameters 2 + per item 4 bytes
 * plus data padded to even length; job header 10 + 2 + 12 per item). The planner merges
 * addresses that are close in the same area into blocks, splits blocks larger than an answer
 * can carry, and packs the pieces into as few jobs as the PDU and the item limit allow.
 */
import type { S7Address } from './address.js';
import { ACK_HEADER_SIZE, DATA_ITEM_HEADER_SIZE, JOB_HEADER_SIZE, type S7VarSpec, TRANSPORT_SIZE, VAR_SPEC_SIZE } from './codec/s7comm.js';

/** Planner limits. */
export interface PlanOptions {
  /** Negotiated PDU length. */
  pduLength: number;
  /** Items per job (snap7 and many CPUs accept at most 20). */
  maxItems: number;
  /** Merge two ranges when at most this many unused bytes lie between them; -1 never merges. */
  maxGap: number;
}

/** A contiguous range of one area read into one buffer. */
export interface PlanBlock {
  areaCode: number;
  dbNumber: number;
  start: number;
  length: number;
  /** Filled as the answers arrive. */
  data: Uint8Array;
  /** The tag indexes the block serves. */
  tags: number[];
}

/** One item of a job: a piece of a block. */
export interface PlanPiece {
  block: PlanBlock;
  /** Offset of the piece within the block. */
  offset: number;
  length: number;
  spec: S7VarSpec;
}

/** A read plan. */
export interface ReadPlan {
  blocks: PlanBlock[];
  /** Jobs, each a list of pieces. */
  jobs: PlanPiece[][];
}

/** The largest data an answer with one item can carry. */
export function maxItemData(pduLength: number): number {
  // Keep pieces even so a piece never needs a fill byte.
  return (pduLength - ACK_HEADER_SIZE - 2 - DATA_ITEM_HEADER_SIZE) & ~1;
}

/**
 * Plans the reads of `addresses` (already parsed).
 * @example planReads([parseS7Address('DB1.DBW0'), parseS7Address('DB1.DBW2')], { pduLength: 480, maxItems: 20, maxGap: 16 }).jobs.length // 1
 */
export function planReads(addresses: readonly S7Address[], options: PlanOptions): ReadPlan {
  const order = addresses.map((_, i) => i);
  order.sort((x, y) => {
    const a = addresses[x] as S7Address;
    const b = addresses[y] as S7Address;
    return a.areaCode - b.areaCode || a.dbNumber - b.dbNumber || a.byteOffset - b.byteOffset;
  });
  const pieceMax = maxItemData(options.pduLength);
  const blocks: PlanBlock[] = [];
  let cur: PlanBlock | undefined;
  for (const i of order) {
    const a = addresses[i] as S7Address;
    const end = a.byteOffset + a.byteLength;
    if (cur && cur.areaCode === a.areaCode && cur.dbNumber === a.dbNumber && options.maxGap >= 0 && a.byteOffset <= cur.start + cur.length + options.maxGap) {
      cur.length = Math.max(cur.length, end - cur.start);
      cur.tags.push(i);
      continue;
    }
    cur = { areaCode: a.areaCode, dbNumber: a.dbNumber, start: a.byteOffset, length: a.byteLength, data: new Uint8Array(0), tags: [i] };
    blocks.push(cur);
  }
  const pieces: PlanPiece[] = [];
  for (const b of blocks) {
    b.data = new Uint8Array(b.length);
    for (let off = 0; off < b.length; off += pieceMax) {
      const length = Math.min(pieceMax, b.length - off);
      pieces.push({ block: b, offset: off, length, spec: { transportSize: TRANSPORT_SIZE.BYTE, count: length, dbNumber: b.dbNumber, area: b.areaCode, byteOffset: b.start + off, bitOffset: 0 } });
    }
  }
  // First-fit in address order: keeps neighbouring pieces in one job and needs no sort.
  const jobs: PlanPiece[][] = [];
  let job: PlanPiece[] = [];
  let req = JOB_HEADER_SIZE + 2;
  let res = ACK_HEADER_SIZE + 2;
  for (const p of pieces) {
    const itemRes = DATA_ITEM_HEADER_SIZE + p.length + (p.length & 1);
    if (job.length > 0 && (job.length >= options.maxItems || req + VAR_SPEC_SIZE > options.pduLength || res + itemRes > options.pduLength)) {
      jobs.push(job);
      job = [];
      req = JOB_HEADER_SIZE + 2;
      res = ACK_HEADER_SIZE + 2;
    }
    job.push(p);
    req += VAR_SPEC_SIZE;
    res += itemRes;
  }
  if (job.length > 0) jobs.push(job);
  return { blocks, jobs };
}
