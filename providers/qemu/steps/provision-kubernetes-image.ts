import { relative } from 'node:path';
import { artefactCache, PROJECT_ROOT } from '../../../src/core/paths.js';
import type { PlannedAction, Step } from '../../../src/core/pipeline.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import {
  cachedKubernetesImage,
  cachedKubernetesImageByHash,
  installArgv,
  kubernetesImageDir,
  layerHash,
  layerInput,
} from '../../../src/image/kubernetes-layer.js';
import { artefactSources, pinnedArtefacts } from '../../../src/kubernetes/artefacts.js';
import { ensureKubernetesImage } from '../layer-build.js';
import { need, type UpContext } from '../../../src/steps/context.js';
import { enabled, lockOf } from '../../../src/steps/kubernetes/common.js';

/** The Kubernetes layer of the node image (after the accelerator is known: the build boots a VM). */
export const provisionKubernetesImage: Step<UpContext> = {
  name: 'provision Kubernetes layer',
  enabled,
  async isDone(ctx) {
    const base = need(ctx.image, 'image');
    const minor = ctx.options.kubernetes;
    const recorded = ctx.record ? cachedKubernetesImageByHash(ctx.cacheRoot, base, minor, ctx.record.image.hash) : undefined;
    const image = recorded ?? cachedKubernetesImage(ctx.cacheRoot, base, layerInput(lockOf(ctx), minor));
    if (image) ctx.image = image;
    return image !== undefined;
  },
  async apply(ctx, progress) {
    const k = need(ctx.kubernetes, 'Kubernetes sources');
    const { image, built } = await ensureKubernetesImage(
      need(ctx.image, 'image'),
      k.lock,
      ctx.options.kubernetes,
      { ...artefactSources(artefactCache(ctx.places), k), signal: ctx.signal },
      { cacheRoot: ctx.cacheRoot, accel: need(ctx.accel, 'accelerator').accel, places: ctx.places, progress, signal: ctx.signal },
    );
    ctx.image = image;
    return built ? `built ${image.hash} in ${image.buildSeconds}s` : `cache hit ${image.hash}`;
  },
  plan(ctx) {
    const base = need(ctx.image, 'image');
    let input;
    try {
      input = layerInput(lockOf(ctx), ctx.options.kubernetes);
    } catch (e) {
      return [{ on: 'host', verb: 'use', what: `nothing: the preflight stops up before this (${(e as Error).message.split('\n')[0]?.replace(/:$/, '')}; dpdkci versions lists them)` }];
    }
    const dir = kubernetesImageDir(ctx.cacheRoot, base, input.minor, layerHash(base, input));
    if (cachedKubernetesImage(ctx.cacheRoot, base, input)) return [{ on: 'host', verb: 'use', what: `the cached Kubernetes layer ${dir}` }];
    const builds = pinnedArtefacts(lockOf(ctx), ctx.options.kubernetes).builds;
    const fetched = input.files.length - builds.length;
    return [
      { on: 'host', verb: 'run', what: `fetch or take from the bundle ${fetched} file(s) and ${input.images.length} image(s), each checked against the lock` },
      ...builds.map(
        (b): PlannedAction => ({
          on: 'host',
          verb: 'run',
          what:
            `go build -trimpath${b.overlay.length ? ` -overlay (${b.overlay.map((o) => (o.replacement ? `${o.path} <- ${relative(PROJECT_ROOT, o.replacement.file)}` : `${o.path} left out`)).join(', ')}: OVS-only)` : ''} ` +
            `${b.package} in ${b.source.name} with ${b.toolchain.name} (GOTOOLCHAIN=local, CGO_ENABLED=0) into $CACHE/builds/, or take ${b.name} from the bundle; installed as ${b.install}`,
        }),
      ),
      { on: 'host', verb: 'run', what: 'boot a build VM (2 vCPU, 2048 MiB) from a new qcow2 over the base image disk, in a state directory of its own' },
      { on: 'build VM', verb: 'write', what: '/var/tmp/dpdkci-kubernetes/ (files/, images/, rootfs/ from images/kubernetes/files, install.list)' },
      { on: 'build VM', verb: 'run', what: remoteCommand(installArgv(input.pause)) },
      { on: 'host', verb: 'run', what: 'power the build VM off over QMP (ACPI), and keep its disk only if it powered off cleanly' },
      { on: 'host', verb: 'write', what: `${dir}/ (disk.qcow2 over the base disk, image.json)` },
    ];
  },
};

