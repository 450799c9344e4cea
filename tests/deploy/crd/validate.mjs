// Validates Kubernetes documents of the CRD kinds deploy/kubernetes/mesh and monitoring use against the schemas
// of their CustomResourceDefinitions (compiled by the pinned @kubernetes-models packages).
// Reads a JSON array of documents on stdin; writes a JSON array, one entry per document:
// {"kind", "name", "error"} with error null when the document is valid.
import { readFileSync } from "node:fs";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";
import { AnalysisTemplate } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate";
import { Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const MODELS = {
  "networking.istio.io/v1/VirtualService": VirtualService,
  "argoproj.io/v1alpha1/Rollout": Rollout,
  "argoproj.io/v1alpha1/AnalysisTemplate": AnalysisTemplate,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

const documents = JSON.parse(readFileSync(0, "utf8"));
const results = documents.map((document) => {
  const kind = `${document.apiVersion}/${document.kind}`;
  const Model = MODELS[kind];
  const name = document.metadata?.name ?? null;
  if (!Model) return { kind, name, error: `no CRD schema here for ${kind}` };
  try {
    new Model(document).validate();
    return { kind, name, error: null };
  } catch (error) {
    return { kind, name, error: String(error.message ?? error) };
  }
});
process.stdout.write(JSON.stringify(results));
