/**
 * @module
 * The multi-variable read planner. S7comm carries many items per read job, but the job and its
 * answer must each fit the negotiated PDU (Ack_Data header 12 + parameters 2 + per item 4 bytes
 * plus data padded to even length; job header 10 + 2 + 12 per item), and many CPUs (and snap7)
 * take at most 20 items per job. The planner merges addresses that lie close together in one
 * area into blocks, splits blocks larger than an answer can carry, and packs the pieces into
 * jobs first-fit. With `maxGap: 'auto'` it tries several merge distances and keeps the plan
 * with the fewest jobs: a job costs a round trip, a merged gap only a few bytes.
 */
import type { S7Address } from './address.js';
import { ACK_HEADER_SIZE, DATA_ITEM_HEADER_SIZE, JOB_HEADER_SIZE, type S7VarSpec, TRANSPORT_SIZE, VAR_SPEC_SIZE } from './codec/s7comm.js';

/** Planner limits. */
export interface PlanOptions {
  /** Negotiated PDU length. */
  pduLength: number;
  /** Items per job (snap7 and many CPUs accept at most 20). */
  maxItems: number;
  /** Merge two ranges when at most this many unused bytes lie between them; -1 never merges; `auto` picks the distance giving the fewest jobs. */
  maxGap: number | 'auto';
}

/** A contiguous range of one area, read into one buffer. */
export interface PlanBlock {
  areaCode: number;
  dbNumber: number;
  start: number;
  length: number;
  /** Indexes (into the planned addresses) of the variables the block serves. */
  tags: number[];
}

/** One item of a job: a piece of a block. */
export interface PlanPiece {
  /** Index of the block in `ReadPlan.blocks`. */
  block: number;
  /** Offset of the piece within the block. */
  offset: number;
  length: number;
  spec: S7VarSpec;
}

/** A read plan; it holds no buffers, so one plan can serve many reads. */
export interface ReadPlan {
  blocks: PlanBlock[];
  /** Jobs, each a list of pieces. */
  jobs: PlanPiece[][];
}

const AUTO_GAPS = [0, 4, 8, 16, 24, 32, 48, 64];

/**
 * The largest data an answer with one item can carry (kept even, so a piece never needs a fill byte).
 * @example maxItemData(240) // 222
 */
export function maxItemData(pduLength: number): number {
  return (pduLength - ACK_HEADER_SIZE - 2 - DATA_ITEM_HEADER_SIZE) & ~1;
}

/**
 * Plans the reads of `addresses` (already parsed).
 * @example planReads([parseS7Address('DB1.DBW0'), parseS7Address('DB1.DBW2')], { pduLength: 480, maxItems: 20, maxGap: 'auto' }).jobs.length // 1
 */
export function planReads(addresses: readonly S7Address[], options: PlanOptions): ReadPlan {
  const order = addresses.map((_, i) => i);
  order.sort((x, y) => {
    const a = addresses[x] as S7Address;
    const b = addresses[y] as S7Address;
    return a.areaCode - b.areaCode || a.dbNumber - b.dbNumber || a.byteOffset - b.byteOffset;
  });
  if (options.maxGap !== 'auto') return planWithGap(addresses, order, options.maxGap, options);
  let best: ReadPlan | undefined;
  let bestBytes = 0;
  for (const gap of AUTO_GAPS) {
    const plan = planWithGap(addresses, order, gap, options);
    const bytes = plan.blocks.reduce((n, b) => n + b.length, 0);
    if (!best || plan.jobs.length < best.jobs.length || (plan.jobs.length === best.jobs.length && bytes < bestBytes)) {
      best = plan;
      bestBytes = bytes;
    }
  }
  return best as ReadPlan;
}

function planWithGap(addresses: readonly S7Address[], order: readonly number[], maxGap: number, options: PlanOptions): ReadPlan {
  const blocks: PlanBlock[] = [];
  let cur: PlanBlock | undefined;
  for (const i of order) {
    const a = addresses[i] as S7Address;
    const end = a.byteOffset + a.byteLength;
    if (cur && cur.areaCode === a.areaCode && cur.dbNumber === a.dbNumber && maxGap >= 0 && a.byteOffset <= cur.start + cur.length + maxGap) {
      cur.length = Math.max(cur.length, end - cur.start);
      cur.tags.push(i);
      continue;
    }
    cur = { areaCode: a.areaCode, dbNumber: a.dbNumber, start: a.byteOffset, length: a.byteLength, tags: [i] };
    blocks.push(cur);
  }
  const pieceMax = maxItemData(options.pduLength);
  const maxItems = Math.min(options.maxItems, Math.floor((options.pduLength - JOB_HEADER_SIZE - 2) / VAR_SPEC_SIZE));
  // First-fit over every open job: a piece too large for the job being filled still goes into
  // an earlier job with room, so small pieces fill the gaps the large ones leave.
  const jobs: PlanPiece[][] = [];
  const room: number[] = [];
  for (let bi = 0; bi < blocks.length; bi++) {
    const b = blocks[bi] as PlanBlock;
    for (let off = 0; off < b.length; off += pieceMax) {
      const length = Math.min(pieceMax, b.length - off);
      const piece: PlanPiece = {
        block: bi,
        offset: off,
        length,
        spec: { transportSize: TRANSPORT_SIZE.BYTE, count: length, dbNumber: b.dbNumber, area: b.areaCode, byteOffset: b.start + off, bitOffset: 0 },
      };
      // Fill bytes go after every item but the last; counting one per odd item keeps the check safe.
      const cost = DATA_ITEM_HEADER_SIZE + length + (length & 1);
      let j = 0;
      while (j < jobs.length && ((jobs[j] as PlanPiece[]).length >= maxItems || (room[j] as number) < cost)) j++;
      if (j === jobs.length) {
        jobs.push([]);
        room.push(options.pduLength - ACK_HEADER_SIZE - 2);
      }
      (jobs[j] as PlanPiece[]).push(piece);
      room[j] = (room[j] as number) - cost;
    }
  }
  return { blocks, jobs };
}
