package main

import (
	_ "embed"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The manifest, one object per file: each file decodes strictly into one
// k8s.io/api type, and `kubectl apply -f deploy/` applies the folder.
// Embedded, so that the tests read the files that go test compiled with
// (the lab's tools swap a reference or a bug in that way).
var (
	//go:embed deploy/deployment.yaml
	deploymentYAML []byte
	//go:embed deploy/service.yaml
	serviceYAML []byte
)

// exitMargin is what the grace period must leave after the preStop hook and
// the whole shutdown budget: the program still has to log, close and exit
// after its deadline, and the kubelet counts in whole seconds.
const exitMargin = 2 * time.Second

// defaultGracePeriod is Kubernetes' terminationGracePeriodSeconds when the
// pod spec leaves it out.
const defaultGracePeriod = 30 * time.Second

// graceSlack is how much longer than it needs the grace period may be: room
// to round up to a number people like. The program is gone by its own
// deadline; only a process that is stuck uses more, and then the extra
// holds the pod, the rollout and a node's drain for nothing.
const graceSlack = 10 * time.Second

// scrapeInterval is how often Prometheus scrapes this pod, the interval
// task 15 chose the linger for: a linger that long always holds the start
// of one more scrape.
const scrapeInterval = 15 * time.Second

// manifest is the decoded deploy/ folder, with the program's own reading of
// the container's args.
type manifest struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	container  *corev1.Container
	cfg        config // the container's args, parsed by parseFlags
}

// decodeStrict decodes one YAML object into out the way the API server's
// strict field validation does: an unknown or duplicated field is an error,
// not something silently dropped.
func decodeStrict(t *testing.T, file string, data []byte, out any) {
	t.Helper()
	// A YAML decoder reads the first document of a stream and ignores the
	// rest: a second object in the same file would never be checked.
	content := false
	for line := range strings.SplitSeq(string(data), "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case trimmed == "---" && content:
			t.Fatalf("deploy/%s holds more than one YAML document; want one object per file: each file is decoded into one type, "+
				"and a decoder would silently skip everything after the first \"---\".", file)
		case trimmed != "" && trimmed != "---" && !strings.HasPrefix(trimmed, "#"):
			content = true
		}
	}
	if err := yaml.UnmarshalStrict(data, out); err != nil {
		t.Fatalf("deploy/%s does not decode strictly into %T: %v.\n"+
			"A misspelt or misplaced field is an error here, as it is for kubectl apply --validate=strict; "+
			"compare the field names with the API reference, or `kubectl explain deployment.spec.template.spec.containers`.", file, out, err)
	}
}

// loadManifest decodes both files and checks what every other manifest
// test relies on: the kinds, one container, args that parse.
func loadManifest(t *testing.T) *manifest {
	t.Helper()
	m := &manifest{deployment: &appsv1.Deployment{}, service: &corev1.Service{}}
	decodeStrict(t, "deployment.yaml", deploymentYAML, m.deployment)
	decodeStrict(t, "service.yaml", serviceYAML, m.service)
	if d := m.deployment; d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		t.Fatalf("deploy/deployment.yaml is apiVersion %q, kind %q; want apps/v1, Deployment.", d.APIVersion, d.Kind)
	}
	if s := m.service; s.APIVersion != "v1" || s.Kind != "Service" {
		t.Fatalf("deploy/service.yaml is apiVersion %q, kind %q; want v1, Service.", s.APIVersion, s.Kind)
	}
	containers := m.deployment.Spec.Template.Spec.Containers
	if len(containers) != 1 {
		t.Fatalf("the Deployment's pod has %d containers; want 1, this program.", len(containers))
	}
	m.container = &containers[0]
	cfg, err := parseFlags(m.container.Args, io.Discard)
	if err != nil {
		t.Fatalf("the container's args %q do not parse with the program's own flags: %v.\n"+
			"The container would exit 2 at every start, and the Deployment would never become ready.", m.container.Args, err)
	}
	m.cfg = cfg
	return m
}

// containerPort is the number of the container's port called name, or 0.
func (m *manifest) containerPort(name string) int32 {
	for _, p := range m.container.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// resolve turns a port reference (a number, or the name of a container
// port) into a number, as the kubelet does for hooks and probes; 0 if it
// names no port.
func (m *manifest) resolve(port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return int32(n)
	}
	return m.containerPort(port.StrVal)
}

// listenPort is the port of a -addr style flag value (":9090" is 9090).
func listenPort(t *testing.T, flag, addr string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil || n <= 0 {
		t.Fatalf("the container's -%s is %q; want a fixed port, such as :9090: the kubelet and the Service need to know where it listens.", flag, addr)
	}
	return int32(n)
}

// TestManifestDecodesStrictly: deploy/deployment.yaml is an apps/v1
// Deployment and deploy/service.yaml a v1 Service, one object per file,
// each decoded strictly into k8s.io/api's types (an unknown or duplicated
// field is an error); the pod has one
// container, whose args parse with the program's own parseFlags; the
// Deployment's selector matches its pod template. (Already true of the
// starter.)
func TestManifestDecodesStrictly(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	selector, labels := m.deployment.Spec.Selector, m.deployment.Spec.Template.Labels
	if selector == nil || len(selector.MatchLabels) == 0 {
		t.Fatalf("the Deployment has no spec.selector.matchLabels; want the pod template's labels.")
	}
	for k, v := range selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("the Deployment selects %s=%s, but its pod template is labelled %v: apps/v1 rejects a selector that does not match the template.", k, v, labels)
		}
	}
}

// TestManifestArgsMatchTheContainerPorts: the container's args, parsed with
// parseFlags, put the public API on the container port named "http" and
// the admin listener on the one named "admin". (Already true of the
// starter.)
func TestManifestArgsMatchTheContainerPorts(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	for _, p := range []struct{ name, flag, addr string }{{"http", "addr", m.cfg.addr}, {"admin", "admin-addr", m.cfg.adminAddr}} {
		want := listenPort(t, p.flag, p.addr)
		if got := m.containerPort(p.name); got != want {
			t.Errorf("the container port named %q is %d, but the args say -%s %s; want them to agree: "+
				"whatever names the port %q (the Service, the probes, the hook) would knock on a port where nothing listens.",
				p.name, got, p.flag, p.addr, p.name)
		}
	}
}

// TestManifestPreStopHookCallsTheAdminEndpoint: the container's
// lifecycle.preStop is an httpGet of /admin/prestop on the admin
// listener's port (by name or number), the hook the program serves.
func TestManifestPreStopHookCallsTheAdminEndpoint(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	lc := m.container.Lifecycle
	if lc == nil || lc.PreStop == nil {
		t.Fatalf("the container has no lifecycle.preStop; want an httpGet of %s on the admin port, "+
			"so that the kubelet takes the instance out of rotation, and waits, before it sends SIGTERM.", preStopPath)
	}
	get := lc.PreStop.HTTPGet
	if get == nil {
		t.Fatalf("the preStop hook is not an httpGet (exec %v, sleep %v); want an httpGet of %s on the admin port: "+
			"only a call to the program tells it that it is leaving, so that it turns readiness off.", lc.PreStop.Exec, lc.PreStop.Sleep, preStopPath)
	}
	if get.Path != preStopPath {
		t.Errorf("the preStop hook's path is %q; want %q, where the program serves it.", get.Path, preStopPath)
	}
	admin := listenPort(t, "admin-addr", m.cfg.adminAddr)
	if got := m.resolve(get.Port); got != admin {
		hint := ""
		if got == listenPort(t, "addr", m.cfg.addr) {
			hint = " That is the public API, which answers 404 there: the hook would do nothing, and SIGTERM would come at once."
		}
		t.Errorf("the preStop hook's port %q is %d; want the admin listener's, %d (-admin-addr %s).%s",
			get.Port.String(), got, admin, m.cfg.adminAddr, hint)
	}
	if get.Host != "" || (get.Scheme != "" && get.Scheme != corev1.URISchemeHTTP) {
		t.Errorf("the preStop hook has host %q and scheme %q; want neither: the kubelet calls the pod's own IP over plain HTTP, where the admin listener is.", get.Host, get.Scheme)
	}
}

// TestManifestGracePeriodCoversPreStopAndBudget: terminationGracePeriodSeconds,
// which Kubernetes counts from the moment the pod is deleted, before the
// preStop hook runs, covers the hook's -prestop-delay, then the whole
// -shutdown-timeout from SIGTERM, then a margin of 2 s to exit; and it is
// no more than 10 s longer than that.
func TestManifestGracePeriodCoversPreStopAndBudget(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	grace, said := defaultGracePeriod, "left out, so Kubernetes' default"
	if g := m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace, said = time.Duration(*g)*time.Second, "terminationGracePeriodSeconds"
	}
	need := m.cfg.preStopDelay + m.cfg.shutdownTimeout + exitMargin
	if grace < need {
		why := "SIGKILL comes before the program's own deadline: a drain or the last scrape is cut off mid-way, with no \"forced close\" in the log."
		if grace < m.cfg.shutdownTimeout {
			why = "it is shorter than the shutdown's budget alone: " + why
		}
		t.Errorf("the grace period is %v (%s); want at least %v: the preStop hook's %v (-prestop-delay) + the shutdown's %v (-shutdown-timeout, from SIGTERM) + %v to exit.\n"+
			"The countdown starts when the pod is deleted, before the hook runs, so the hook's time comes out of it too. %s",
			grace, said, need, m.cfg.preStopDelay, m.cfg.shutdownTimeout, exitMargin, why)
	}
	if grace > need+graceSlack {
		t.Errorf("the grace period is %v (%s); want at most %v: the %v that the hook, the budget and the exit need, and %v to spare.\n"+
			"The program is gone by its own deadline, so only a stuck process ever uses the rest: a hook that hangs, a drain that ignores "+
			"its deadline. Then the pod, the rollout and any node being drained wait that long for SIGKILL, for nothing.",
			grace, said, need+graceSlack, need, graceSlack)
	}
}

// TestManifestWaitsCoverTheDrainDelayAndAScrape: the container's args keep
// the two waits the shutdown is for: the hook's -prestop-delay is at least
// the -drain-delay, so that everything the load balancers need happens
// before SIGTERM; and -metrics-linger is at least a scrape interval, 15 s.
// (Already true of the starter.)
func TestManifestWaitsCoverTheDrainDelayAndAScrape(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	if m.cfg.preStopDelay < m.cfg.drainDelay {
		t.Errorf("the container's -prestop-delay is %v; want at least its -drain-delay, %v.\n"+
			"The hook is there so that the load balancers have caught up before SIGTERM: once the signal comes, anything in the pod "+
			"that reacts to it (a sidecar proxy, a runtime's own handler) is already leaving. A shorter hook leaves the rest of the wait "+
			"after SIGTERM, and one of 0s does nothing at all. If the grace period is too short for the hook, lengthen the grace period.",
			m.cfg.preStopDelay, m.cfg.drainDelay)
	}
	if m.cfg.metricsLinger < scrapeInterval {
		t.Errorf("the container's -metrics-linger is %v; want at least %v, the interval Prometheus scrapes this pod at (task 15).\n"+
			"A linger shorter than a scrape interval can close /metrics before the next scrape, and the shutdown's final figures are "+
			"lost with it. If the grace period is too short for the budget, lengthen the grace period rather than shorten what the shutdown waits for.",
			m.cfg.metricsLinger, scrapeInterval)
	}
}

// TestManifestProbesAskTheAdminListener: the readiness probe asks /readyz
// and the liveness probe /healthz, both on the admin listener's port.
// (Already true of the starter.)
func TestManifestProbesAskTheAdminListener(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	admin := listenPort(t, "admin-addr", m.cfg.adminAddr)
	for _, p := range []struct {
		kind, path, why string
		probe           *corev1.Probe
	}{
		{"readinessProbe", "/readyz", "it answers 503 while the instance leaves", m.container.ReadinessProbe},
		{"livenessProbe", "/healthz", "it stays 200 through the drain; a liveness probe on /readyz would get a leaving container restarted", m.container.LivenessProbe},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("the container has no %s.httpGet; want one on %s at the admin port: %s.", p.kind, p.path, p.why)
			continue
		}
		get := p.probe.HTTPGet
		if got := m.resolve(get.Port); get.Path != p.path || got != admin {
			t.Errorf("the %s asks %s on port %q (%d); want %s on the admin listener's port, %d: %s.",
				p.kind, get.Path, get.Port.String(), got, p.path, admin, p.why)
		}
	}
}

// TestManifestServiceSendsTrafficToThePublicPort: the Service selects the
// Deployment's pods and sends its traffic to the container's public port,
// never to the admin listener. (Already true of the starter.)
func TestManifestServiceSendsTrafficToThePublicPort(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	labels := m.deployment.Spec.Template.Labels
	if len(m.service.Spec.Selector) == 0 {
		t.Fatalf("the Service has no selector; want the Deployment's pod labels %v.", labels)
	}
	for k, v := range m.service.Spec.Selector {
		if labels[k] != v {
			t.Errorf("the Service selects %s=%s, but the pods are labelled %v: it would have no endpoints.", k, v, labels)
		}
	}
	api := listenPort(t, "addr", m.cfg.addr)
	if len(m.service.Spec.Ports) == 0 {
		t.Fatalf("the Service has no ports; want one that targets the public API, %d.", api)
	}
	for _, p := range m.service.Spec.Ports {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port) // targetPort defaults to port
		}
		got := m.resolve(target)
		if got != api {
			t.Errorf("the Service's port %d targets %q (%d); want the public API, %d: the admin listener is for the kubelet and Prometheus, never for the Service's clients.",
				p.Port, target.String(), got, api)
		}
	}
}
