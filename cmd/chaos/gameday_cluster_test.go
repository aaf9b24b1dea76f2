package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
)

// TestGamedayInTheCluster applies what `chaos gameday render` writes to a real
// control plane. The real CronJob controller creates the Job and the Job controller
// its Pod; kwok runs no containers, so the test plays the kubelet: it runs the Pod's
// command as a local process with a token of the Pod's ServiceAccount (TokenRequest,
// bound to the Pod) and reports the exit status on the Pod. The run's ExperimentRun
// appears with its verdict and `chaos history` lists it; a second run (created from
// the CronJob as `kubectl create job --from=cronjob` does) is a second entry. The
// rendered RBAC is all the run needs; without one rule the run names the missing
// permission and touches nothing.
func TestGamedayInTheCluster(t *testing.T) {
	cp, c := startGameCluster(t)
	ctx := context.Background()
	exp := writeFile(t, "web-heals.yaml", podKillExperiment)
	code, manifests, errOut := runCLI(t, "gameday", "render", exp, "--schedule", "* * * * *", "--time-zone", "Europe/Berlin",
		"--namespace", "chaos", "--image", "registry.example/faultline/chaos:test")
	if code != 0 {
		t.Fatalf("render: exit %d\n%s", code, errOut)
	}
	applyYAML(t, c, "", []byte(manifests), func(u *unstructured.Unstructured) {
		if u.GetKind() == "CronJob" { // the test plays the kubelet for these pods (see controlplane.ExternalPodAnnotation)
			_ = unstructured.SetNestedStringMap(u.Object, map[string]string{controlplane.ExternalPodAnnotation: "true"},
				"spec", "jobTemplate", "spec", "template", "metadata", "annotations")
		}
	})
	cj, err := c.Clientset.BatchV1().CronJobs("chaos").Get(ctx, "faultline-gameday", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || ptr.Deref(cj.Spec.TimeZone, "") != "Europe/Berlin" {
		t.Fatalf("CronJob: concurrencyPolicy %q timeZone %v", cj.Spec.ConcurrencyPolicy, cj.Spec.TimeZone)
	}

	// 1. The CronJob controller starts the first game day (within a minute).
	var job *batchv1.Job
	waitFor(t, 90*time.Second, func() bool {
		jobs, err := c.Clientset.BatchV1().Jobs("chaos").List(ctx, metav1.ListOptions{})
		if err != nil || len(jobs.Items) == 0 {
			return false
		}
		job = &jobs.Items[0]
		return true
	}, "the CronJob controller to create a Job")
	if _, err := c.Clientset.BatchV1().CronJobs("chaos").Patch(ctx, "faultline-gameday", "application/merge-patch+json",
		[]byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err) // the next two Jobs are created by hand, without waiting for minutes
	}
	exit, out := runJobPod(t, cp, c, job)
	if exit != 0 || strings.Contains(strings.ToLower(out), "forbidden") || strings.Contains(out, "missing permission") {
		t.Fatalf("first game day: exit %d\n%s", exit, out)
	}
	waitJob(t, c, job.Name, true)
	runs := experimentRuns(t, c, "web-heals")
	if len(runs) != 1 || runs[0].Status.Verdict != "passed" {
		t.Fatalf("ExperimentRuns after the first game day: %+v", runs)
	}
	code, hist, errOut := runCLI(t, "history", "--kubeconfig", cp.Kubeconfig, "-n", "chaos")
	if code != 0 || strings.Count(hist, " web-heals ") != 1 || !strings.Contains(hist, runs[0].Spec.RunID) {
		t.Fatalf("history after one game day: exit %d\n%s\n%s", code, hist, errOut)
	}

	// 2. A second game day is a second entry.
	job = jobFromCronJob(t, c, "second")
	exit, out = runJobPod(t, cp, c, job)
	if exit != 0 {
		t.Fatalf("second game day: exit %d\n%s", exit, out)
	}
	waitJob(t, c, job.Name, true)
	code, hist, _ = runCLI(t, "history", "--kubeconfig", cp.Kubeconfig, "-n", "chaos", "--experiment", "web-heals")
	if code != 0 || strings.Count(hist, " web-heals ") != 2 || !strings.Contains(hist, "web-heals: 2 runs (2 passed), score 100") {
		t.Fatalf("history after two game days:\n%s", hist)
	}

	// 3. Without "delete pods" in shop the run names the missing permission and
	// deletes nothing.
	role, err := c.Clientset.RbacV1().Roles("shop").Get(ctx, "faultline-gameday", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	for i, r := range role.Rules {
		if len(r.Resources) == 1 && r.Resources[0] == "pods" {
			var verbs []string
			for _, v := range r.Verbs {
				if v != "delete" {
					verbs = append(verbs, v)
				}
			}
			removed = len(verbs) < len(r.Verbs)
			role.Rules[i].Verbs = verbs
		}
	}
	if !removed {
		t.Fatalf("rendered Role in shop has no delete on pods: %+v", role.Rules)
	}
	if _, err := c.Clientset.RbacV1().Roles("shop").Update(ctx, role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := podUIDs(t, c)
	job = jobFromCronJob(t, c, "no-delete")
	exit, out = runJobPod(t, cp, c, job)
	want := "missing permission: delete pods in namespace shop (as system:serviceaccount:chaos:faultline-gameday)"
	if exit != 3 || !strings.Contains(out, want) {
		t.Fatalf("without delete pods: exit %d, want 3 naming %q\n%s", exit, want, out)
	}
	waitJob(t, c, job.Name, false)
	if after := podUIDs(t, c); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("pods changed although the run lacked permission: %v -> %v", before, after)
	}
	runs = experimentRuns(t, c, "web-heals")
	if last := runs[len(runs)-1]; last.Status.Verdict != "errored" || !strings.Contains(last.Status.Reason, want) {
		t.Fatalf("third ExperimentRun: verdict %q reason %q", last.Status.Verdict, last.Status.Reason)
	}
}

func podUIDs(t *testing.T, c *kube.Client) []string {
	t.Helper()
	pods, err := c.Clientset.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range pods.Items {
		uids = append(uids, string(p.UID))
	}
	return uids
}

// jobFromCronJob creates a Job from the CronJob's template, as
// `kubectl create job NAME --from=cronjob/faultline-gameday` does.
func jobFromCronJob(t *testing.T, c *kube.Client, name string) *batchv1.Job {
	t.Helper()
	ctx := context.Background()
	cj, err := c.Clientset.BatchV1().CronJobs("chaos").Get(ctx, "faultline-gameday", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "chaos", Labels: cj.Spec.JobTemplate.Labels,
			Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID,
				Controller: ptr.To(true)}}},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	job, err = c.Clientset.BatchV1().Jobs("chaos").Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func waitJob(t *testing.T, c *kube.Client, name string, succeeded bool) {
	t.Helper()
	waitFor(t, 60*time.Second, func() bool {
		j, err := c.Clientset.BatchV1().Jobs("chaos").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		if succeeded {
			return j.Status.Succeeded == 1
		}
		return j.Status.Failed == 1
	}, "job "+name+" to finish")
}

// runJobPod waits for the Job's Pod, runs its container's command as a local process
// with the Pod's ServiceAccount token and volumes, and reports the exit status on
// the Pod, as a kubelet would. It returns the exit code and the output.
func runJobPod(t *testing.T, cp *controlplane.ControlPlane, c *kube.Client, job *batchv1.Job) (int, string) {
	t.Helper()
	ctx := context.Background()
	var pod *corev1.Pod
	waitFor(t, 60*time.Second, func() bool {
		pods, err := c.Clientset.CoreV1().Pods("chaos").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
		if err != nil || len(pods.Items) == 0 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return false
		}
		pod = &pods.Items[0]
		return true
	}, "the Job controller's pod of "+job.Name+" to run")

	// Volumes: ConfigMaps as files, emptyDirs as empty directories.
	mounts := map[string]string{}
	root := t.TempDir()
	ctr := pod.Spec.Containers[0]
	for _, vm := range ctr.VolumeMounts {
		dir := filepath.Join(root, vm.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				cm, err := c.Clientset.CoreV1().ConfigMaps("chaos").Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for k, data := range cm.Data {
					if err := os.WriteFile(filepath.Join(dir, k), []byte(data), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		mounts[vm.MountPath] = dir
	}
	args := make([]string, len(ctr.Args))
	for i, a := range ctr.Args {
		args[i] = a
		for mp, dir := range mounts {
			if a == mp || strings.HasPrefix(a, mp+"/") {
				args[i] = dir + strings.TrimPrefix(a, mp)
			}
		}
	}

	// The Pod's ServiceAccount token, bound to the Pod, in a kubeconfig.
	tr, err := c.Clientset.CoreV1().ServiceAccounts("chaos").CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc := cp.RESTConfig()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthority: rc.TLSClientConfig.CAFile, CertificateAuthorityData: rc.TLSClientConfig.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["pod"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "sa", Namespace: "chaos"}
	kc.CurrentContext = "pod"
	kcPath := filepath.Join(root, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kcPath); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(chaosBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kcPath, "FAULTLINE_NAMESPACE=chaos")
	cmd.Dir = root
	outb, err := cmd.CombinedOutput()
	exit := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}

	// Report the exit status on the Pod, as the kubelet does.
	pod, err = c.Clientset.CoreV1().Pods("chaos").Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	pod.Status.Phase = corev1.PodSucceeded
	reason := "Completed"
	if exit != 0 {
		pod.Status.Phase, reason = corev1.PodFailed, "Error"
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ctr.Name, Image: ctr.Image, State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(exit), Reason: reason, StartedAt: now, FinishedAt: now}}}}
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady || pod.Status.Conditions[i].Type == corev1.ContainersReady {
			pod.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	if _, err := c.Clientset.CoreV1().Pods("chaos").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return exit, string(outb)
}
