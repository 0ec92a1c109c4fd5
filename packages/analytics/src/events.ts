/**
 * @module
 * The pipeline event model. A pipeline takes input events (one value of one series at one time)
 * and produces output events: values, window aggregates, anomaly events and alarm
 * raise/clear/ack events. Two side outputs carry what the main output does not: `late` (events
 * behind the watermark by more than the allowed lateness) and `rejected` (values a numeric step
 * cannot use, out-of-order times where strictly increasing time is needed). Nothing is dropped
 * silently: every input ends in an output, a side output, or is consumed by a filter, a deadband
 * or a window (and then counted in `stats()`).
 */
import type { BifrostError, Quality } from '@bifrost/core';

/**
 * One input: a value of a series (tag id) at a time in ms since the Unix epoch.
 * A core `TagValue` is accepted as well (its `address` is the series).
 * @example pipeline.push({ series: 'press1.temperature', timestamp: Date.now(), value: 21.5 })
 */
export interface AnalyticsEvent {
  series: string;
  timestamp: number;
  value: unknown;
  /** Defaults to `good`. */
  quality?: Quality;
}

/** A value passed through (or transformed by) the steps. */
export interface ValueEvent {
  kind: 'value';
  series: string;
  timestamp: number;
  value: unknown;
  quality: Quality;
}

/** The names of the aggregates a window step computes. `pNN` is any percentile, e.g. `p95`, `p99.9`. */
export type AggregateName = 'count' | 'sum' | 'mean' | 'min' | 'max' | 'first' | 'last' | 'stddev' | 'median' | `p${number}`;

/**
 * The result of one window. `timestamp` is the window end; `value` is the first aggregate listed
 * (the one later numeric steps act on). A late event inside the allowed lateness re-emits the
 * window with `revision` incremented.
 */
export interface AggregateEvent {
  kind: 'aggregate';
  series: string;
  timestamp: number;
  /** Window start (inclusive) and end (exclusive), ms. */
  start: number;
  end: number;
  count: number;
  value: number;
  quality: Quality;
  aggregates: Record<string, number>;
  revision: number;
}

/** An anomaly found by an `anomaly` step. */
export interface AnomalyEvent {
  kind: 'anomaly';
  series: string;
  timestamp: number;
  value: number;
  method: 'zscore' | 'ewma' | 'mad' | 'roc' | 'westernElectric';
  /** The statistic compared with the threshold (z, robust z, EWMA z, rate per `per`, or sigma distance). */
  score: number;
  threshold: number;
  /** For Western Electric: the lowest-numbered rule that fired (1–4) and all that fired. */
  rule?: number;
  rules?: number[];
  message: string;
}

/** An alarm's state, as the AlarmManager holds it. */
export interface AlarmState {
  id: string;
  series: string;
  name: string;
  condition: 'high' | 'low';
  limit: number;
  severity: number;
  message: string;
  /** True while the alarm condition holds (raised and not yet cleared). */
  active: boolean;
  acknowledged: boolean;
  raisedAt: number;
  value: number;
  clearedAt?: number;
  acknowledgedAt?: number;
  acknowledgedBy?: string;
}

/** An alarm transition. */
export interface AlarmEvent {
  kind: 'alarm';
  type: 'raise' | 'clear' | 'ack';
  id: string;
  series: string;
  timestamp: number;
  value?: number;
  user?: string;
  /** A snapshot of the alarm after the transition. */
  alarm: AlarmState;
}

/** An event that arrived too late for its window (the `late` side output). */
export interface LateEvent {
  kind: 'late';
  series: string;
  timestamp: number;
  value: unknown;
  quality: Quality;
  /** Index of the step that found it late. */
  step: number;
  /** The watermark of the series when it arrived. */
  watermark: number;
  error: BifrostError;
}

/** An event a step could not process (the `rejected` side output). */
export interface RejectedEvent {
  kind: 'rejected';
  series: string;
  timestamp: number;
  value: unknown;
  quality: Quality;
  step: number;
  error: BifrostError;
}

/** What a pipeline's main output carries. */
export type OutputEvent = ValueEvent | AggregateEvent | AnomalyEvent | AlarmEvent;

/** Anything a pipeline emits, side outputs included. */
export type PipelineEvent = OutputEvent | LateEvent | RejectedEvent;
