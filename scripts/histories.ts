import { checkReleases, CURRENT_RELEASE, sealCurrentRelease } from '../devstack/histories';

// `npm run histories -- check|seal`: the release histories under tests/histories/<version>/.
// seal adds the current release's new recordings to its SHA256SUMS (never a past release's, never
// rewriting a line); check prints what the unit test tests/unit/histories.test.ts fails on.

const command = process.argv[2] ?? 'check';
if (command === 'seal') {
  const added = sealCurrentRelease();
  console.log(added.length ? `sealed in tests/histories/${CURRENT_RELEASE}/SHA256SUMS:\n  ${added.join('\n  ')}` : 'nothing new to seal');
}
if (command !== 'seal' && command !== 'check') {
  console.error('usage: npm run histories -- check|seal');
  process.exit(64);
}
const problems = checkReleases();
for (const p of problems) console.error(p);
console.log(problems.length ? `${problems.length} problem(s)` : 'release histories: all sealed and unchanged');
process.exit(problems.length ? 1 : 0);
