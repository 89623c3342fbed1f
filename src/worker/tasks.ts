// The task list and schedules: one task per file in jobs/ (`<domain>__<verb>.ts`, default export),
// schedules in jobs/crontab.
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseCrontab, type ParsedCronItem, type TaskList } from 'graphile-worker';
import { projectRoot } from '../config.ts';

export const jobsDir = path.join(projectRoot, 'jobs');
const taskFile = /^([a-z][a-z0-9_]*__[a-z][a-z0-9_]*)\.ts$/;

export async function loadTaskList(dir = jobsDir): Promise<TaskList> {
  const tasks: TaskList = {};
  for (const file of (await fs.readdir(dir)).sort()) {
    const match = taskFile.exec(file);
    if (!match) continue;
    const module = (await import(pathToFileURL(path.join(dir, file)).href)) as { default?: unknown };
    if (typeof module.default !== 'function') throw new Error(`jobs/${file} must default-export a task function`);
    tasks[match[1]!] = module.default as TaskList[string];
  }
  return tasks;
}

export async function loadCrontab(dir = jobsDir): Promise<ParsedCronItem[]> {
  return parseCrontab(await fs.readFile(path.join(dir, 'crontab'), 'utf8'));
}
