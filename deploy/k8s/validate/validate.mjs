// Validates the manifests in deploy/k8s (or the files named on the command line):
//   1. every document against the Kubernetes API schema of its apiVersion/kind
//      (kubernetes-models' classes: types, required fields, enums, quantities);
//   2. the settings this deployment relies on, which a schema cannot demand: the security
//      context, probes, resources, a grace period that covers the shutdown delay plus the
//      drain, and selectors that match the Deployment's pods. The schema accepts unknown
//      fields (as kubectl does without --validate=strict), so a misspelt key shows up here
//      as a missing setting.
// Before that it checks itself: known-bad objects must be rejected, or it exits non-zero.
// Exit code: 0 when everything is valid, 1 otherwise.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Service } from "kubernetes-models/v1/Service";

const here = dirname(fileURLToPath(import.meta.url));
const k8sDir = resolve(here, "..");
const repoRoot = resolve(k8sDir, "../..");

const models = {
  "apps/v1/Deployment": Deployment,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "v1/Service": Service,
};

/** Schema validation of one object; returns the error messages (none when valid). */
function schemaErrors(obj) {
  if (obj === null || typeof obj !== "object") return ["not a mapping"];
  const model = models[`${obj.apiVersion}/${obj.kind}`];
  if (!model) return [`unsupported apiVersion/kind ${obj.apiVersion}/${obj.kind}`];
  try {
    new model(obj).validate();
    return [];
  } catch (e) {
    return [e.message];
  }
}

/** "5s", "500ms", "1m", or a bare number of seconds, in seconds. */
function seconds(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text));
  if (!m) return NaN;
  const scale = { ms: 0.001, s: 1, m: 60 }[m[2] ?? "s"];
  return Number(m[1]) * scale;
}

function flag(args, name) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The deployment's own requirements, checked on the Deployment object. */
function deploymentErrors(d) {
  const errors = [];
  const need = (ok, what) => ok || errors.push(what);
  const pod = d.spec?.template?.spec ?? {};
  const c = (pod.containers ?? [])[0] ?? {};
  const sc = c.securityContext ?? {};
  const args = c.args ?? [];
  need(sc.runAsNonRoot === true || pod.securityContext?.runAsNonRoot === true, "runAsNonRoot: true");
  need((sc.runAsUser ?? pod.securityContext?.runAsUser) === 10001, "runAsUser: 10001");
  need(sc.readOnlyRootFilesystem === true, "readOnlyRootFilesystem: true");
  need(sc.allowPrivilegeEscalation === false, "allowPrivilegeEscalation: false");
  need((sc.capabilities?.drop ?? []).includes("ALL"), "capabilities.drop: [ALL]");
  need((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type === "RuntimeDefault",
       "seccompProfile RuntimeDefault");
  // Service links would inject ECHO_SVC_* variables, which echo-svc takes as settings.
  need(pod.enableServiceLinks === false, "enableServiceLinks: false");
  need(c.readinessProbe?.httpGet?.path === "/readyz", "readinessProbe httpGet /readyz");
  need(c.livenessProbe !== undefined, "a livenessProbe");
  for (const kind of ["requests", "limits"])
    for (const r of ["cpu", "memory"])
      need(c.resources?.[kind]?.[r] !== undefined, `resources.${kind}.${r}`);
  const annotations = d.spec?.template?.metadata?.annotations ?? {};
  need(annotations["prometheus.io/scrape"] === "true", "annotation prometheus.io/scrape: \"true\"");
  need(annotations["prometheus.io/port"] === flag(args, "--admin-listen")?.split(":").pop(),
       "annotation prometheus.io/port equal to the --admin-listen port");
  const delay = seconds(flag(args, "--shutdown-delay") ?? "0");
  const drain = seconds(flag(args, "--shutdown-timeout") ?? "5s");
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  need(!(Number.isNaN(delay) || Number.isNaN(drain)), "parsable --shutdown-delay and --shutdown-timeout");
  need(grace > delay + drain,
       `terminationGracePeriodSeconds (${grace}) > --shutdown-delay + --shutdown-timeout (${delay + drain})`);
  return errors.map((e) => `missing or wrong: ${e}`);
}

function matches(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

/** Validates a list of {file, obj}, printing each error; returns how many objects failed. */
function validateAll(docs) {
  let failures = 0;
  const report = (where, errors) => {
    for (const e of errors) console.log(`FAIL ${where}: ${e}`);
    if (errors.length > 0) failures++;
  };
  const deployments = docs.filter((d) => d.obj?.kind === "Deployment");
  for (const { file, obj } of docs) {
    const where = `${file} ${obj?.kind ?? "?"}/${obj?.metadata?.name ?? "?"}`;
    const errors = schemaErrors(obj);
    if (obj?.kind === "Deployment") errors.push(...deploymentErrors(obj));
    const podLabels = (name) => deployments.find((d) => d.obj.metadata?.name === name)?.obj.spec.template.metadata.labels;
    if (errors.length === 0 && obj.kind === "Service") {
      const ok = deployments.some((d) => matches(obj.spec.selector, d.obj.spec.template.metadata.labels));
      if (!ok) errors.push("selector matches no Deployment's pods");
    }
    if (errors.length === 0 && obj.kind === "PodDisruptionBudget") {
      const ok = deployments.some((d) => matches(obj.spec.selector.matchLabels, d.obj.spec.template.metadata.labels));
      if (!ok) errors.push("selector matches no Deployment's pods");
    }
    if (errors.length === 0 && obj.kind === "HorizontalPodAutoscaler") {
      const ref = obj.spec.scaleTargetRef;
      if (ref.kind !== "Deployment" || !podLabels(ref.name)) errors.push(`scaleTargetRef ${ref.kind}/${ref.name} is not a Deployment here`);
    }
    report(where, errors);
    if (errors.length === 0) console.log(`ok   ${where}`);
  }
  return failures;
}

function load(file) {
  const docs = [];
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
    const obj = doc.toJS();
    const shown = relative(repoRoot, resolve(file));
    if (obj !== null) docs.push({ file: shown.startsWith("..") ? file : shown, obj });
  }
  return docs;
}

// Self-check: a validator that accepts everything passes every manifest. Each of these must
// fail, for the reason given.
function selfCheck(good) {
  const dep = good.find((d) => d.obj.kind === "Deployment");
  const broken = (what, mutate) => {
    const obj = structuredClone(dep.obj);
    mutate(obj);
    return { what, docs: [{ file: `(self-check: ${what})`, obj }] };
  };
  const cases = [
    broken("replicas is a string", (o) => { o.spec.replicas = "two"; }),
    broken("containers missing", (o) => { delete o.spec.template.spec.containers; }),
    broken("cpu limit not a quantity", (o) => { o.spec.template.spec.containers[0].resources.limits.cpu = "two cores"; }),
    broken("readOnlyRootFilesystem misspelt", (o) => {
      const sc = o.spec.template.spec.containers[0].securityContext;
      sc.readOnlyRootFilesytem = sc.readOnlyRootFilesystem;
      delete sc.readOnlyRootFilesystem;
    }),
    broken("grace period shorter than delay + drain", (o) => { o.spec.template.spec.terminationGracePeriodSeconds = 10; }),
    broken("service links enabled", (o) => { delete o.spec.template.spec.enableServiceLinks; }),
  ];
  let wrong = 0;
  for (const c of cases) {
    const log = console.log;
    console.log = () => {};
    const failures = validateAll(c.docs);
    console.log = log;
    if (failures === 0) {
      console.log(`SELF-CHECK FAILED: accepted a broken manifest (${c.what})`);
      wrong++;
    }
  }
  if (wrong === 0) console.log(`self-check: ${cases.length} broken manifests rejected`);
  return wrong;
}

const files = process.argv.length > 2
  ? process.argv.slice(2)
  : readdirSync(k8sDir).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(k8sDir, f));
let docs;
try {
  docs = files.flatMap(load);
} catch (e) {
  console.log(`FAIL ${e.message}`);
  process.exit(1);
}
if (docs.length === 0) {
  console.log("FAIL no manifests found");
  process.exit(1);
}
const failures = validateAll(docs);
const selfFailures = docs.some((d) => d.obj.kind === "Deployment") ? selfCheck(docs) : 0;
console.log(`${docs.length - failures} passed, ${failures} failed`);
process.exit(failures + selfFailures === 0 ? 0 : 1);
