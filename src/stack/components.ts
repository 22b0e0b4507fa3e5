import type { Component } from './component.js';
import { DockerComponent } from './docker/component.js';
import { JaegerComponent } from './jaeger/component.js';
import { admissionComponent } from './kube/admission.js';
import { kubernetesComponent } from './kube/component.js';
import { S3Component } from './s3/component.js';
import { TemporalComponent } from './temporal/component.js';

/**
 * The components of the local stack, in start order: `up` runs them first to last, `down` last to first.
 * To add one (e.g. the Kubernetes cluster in `src/stack/kube/`), implement {@link Component} and append it here.
 * `jaeger` (the trace store) needs nothing and comes before the cluster, so traces have somewhere to go while it
 * starts. `admission` (the EvaluationJob CRD and webhook configurations) needs the cluster, so it comes after it;
 * `docker` (the Docker executor's engine) needs nothing of the others and comes last.
 */
export function stackComponents(): Component[] {
  return [
    new TemporalComponent(),
    new S3Component(),
    new JaegerComponent(),
    kubernetesComponent,
    admissionComponent,
    new DockerComponent(),
  ];
}
