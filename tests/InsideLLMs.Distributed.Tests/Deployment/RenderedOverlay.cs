using System.Diagnostics;
using InsideLLMs.Distributed.Tests.Processes;
using k8s;
using k8s.Models;

namespace InsideLLMs.Distributed.Tests.Deployment;

/// <summary>
/// One kustomize overlay under <c>deploy/kubernetes/overlays</c>, rendered with <c>kubectl kustomize</c> (offline) and
/// loaded strictly into KubernetesClient's typed objects, so a misspelt or misplaced field fails the load.
/// </summary>
public sealed class RenderedOverlay
{
    public const string SiloName = "insidellms-silo";
    public const string SecretName = "insidellms-secrets";
    public const string Namespace = "insidellms";

    private static readonly string[] KubectlCandidates = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"];

    private RenderedOverlay(string name, IReadOnlyList<object> objects)
    {
        Name = name;
        Objects = objects;
    }

    public string Name { get; }

    public IReadOnlyList<object> Objects { get; }

    public V1Deployment Silo => Single<V1Deployment>(SiloName);

    public V1Container SiloContainer => Silo.Spec.Template.Spec.Containers.Single(c => c.Name == "silo");

    public IEnumerable<T> All<T>() => Objects.OfType<T>();

    public T Single<T>(string name)
        where T : IMetadata<V1ObjectMeta>
    {
        var found = All<T>().Where(o => o.Metadata.Name == name).ToArray();
        Assert.True(found.Length == 1, $"overlay {Name}: expected one {typeof(T).Name} '{name}', found {found.Length}.");
        return found[0];
    }

    /// <summary>The silo container's environment variable <paramref name="name"/>, which must be there once.</summary>
    public V1EnvVar Env(string name)
    {
        var found = SiloContainer.Env.Where(e => e.Name == name).ToArray();
        Assert.True(found.Length == 1, $"overlay {Name}: the silo container sets {name} {found.Length} times.");
        return found[0];
    }

    public static RenderedOverlay Render(string overlay)
    {
        var directory = Path.Combine(RepositoryPaths.Root(), "deploy", "kubernetes", "overlays", overlay);
        Assert.True(Directory.Exists(directory), $"no overlay at {directory}");
        var yaml = Kustomize(directory);
        return new RenderedOverlay(overlay, KubernetesYaml.LoadAllFromString(yaml, strict: true));
    }

    private static string Kustomize(string directory)
    {
        var kubectl = KubectlCandidates.FirstOrDefault(File.Exists) ?? throw new InvalidOperationException(
            "kubectl is not installed (looked in " + string.Join(", ", KubectlCandidates) + "): the manifest tests render the overlays with " +
            "`kubectl kustomize`, which needs kubectl 1.27 or later (Debian's kubernetes-client is too old; install kubectl from the Kubernetes release).");
        var start = new ProcessStartInfo(kubectl) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("kustomize");
        start.ArgumentList.Add(directory);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {kubectl}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            throw new TimeoutException($"kubectl kustomize {directory} did not finish within 60 s.");
        }

        return process.ExitCode == 0
            ? output.Result
            : throw new InvalidOperationException($"kubectl kustomize {directory} failed with exit code {process.ExitCode}:\n{errors.Result}");
    }
}
