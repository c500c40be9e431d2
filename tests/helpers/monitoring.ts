import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../devstack/processes';

// The shipped monitoring files (monitoring/), read as Grafana and Prometheus read them.

export const ALERTS_FILE = join(REPO_ROOT, 'monitoring', 'prometheus', 'alerts.yml');
export const ALERTS_TEST_FILE = join(REPO_ROOT, 'monitoring', 'prometheus', 'alerts.test.yml');
export const DASHBOARD_FILE = join(REPO_ROOT, 'monitoring', 'grafana', 'agent-governance.json');

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export const alertRules = (): AlertRule[] => (parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);

export interface DashboardPanel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string }[];
}

export const dashboard = (): { uid: string; title: string; panels: DashboardPanel[]; templating: { list: { name: string; type: string }[] } } =>
  JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'));

/** Every PromQL expression the dashboard and the alert rules evaluate, with where it is. */
export const shippedQueries = (): { where: string; expr: string }[] => [
  ...dashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `dashboard panel "${p.title}"`, expr: t.expr }))),
  ...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
];
