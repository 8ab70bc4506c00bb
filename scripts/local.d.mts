// Types for scripts/local.mjs (plain JS so npm scripts run it without a build).
import type { ChildProcess } from "node:child_process";

export const ROOT: string;
export const ADMIN_EMAIL: string;
export interface LocalServer {
  url: string;
  child: ChildProcess;
  log(): string;
}
export function ensureDevVars(): boolean;
export function buildWeb(): void;
export function applyMigrations(persistTo?: string): void;
export function seedFirstAdmin(persistTo?: string): string | null;
export function prepare(options?: { persistTo?: string; build?: boolean }): { createdVars: boolean; password: string | null };
export function newPersistDir(prefix?: string): string;
export function startServer(options?: { port?: number; persistTo?: string; stdio?: "pipe" | "inherit"; extraArgs?: string[] }): Promise<LocalServer>;
export function stopServer(child: ChildProcess): void;
export function readDevVars(): string;
