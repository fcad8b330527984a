using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using InsideLLMs.Distributed.Silo.Extensions;
using InsideLLMs.Distributed.Tests.Processes;
using k8s.Models;
using Microsoft.Extensions.Configuration;

namespace InsideLLMs.Distributed.Tests.Deployment;

/// <summary>
/// The rendered kustomize overlays against what the silo really does: the ports it listens on, the configuration it
/// accepts, its health endpoints and its shutdown timeout, and the RBAC Orleans' Kubernetes hosting needs.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    public static TheoryData<string> Overlays => new() { "local", "production" };

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Overlay_RendersTheSiloStack_InOneNamespace(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);

        Assert.Equal(RenderedOverlay.Namespace, Assert.Single(rendered.All<V1Namespace>()).Metadata.Name);
        foreach (var o in rendered.Objects.OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace))
        {
            Assert.True(o.Metadata.NamespaceProperty == RenderedOverlay.Namespace, $"{o.GetType().Name} {o.Metadata.Name} is in namespace '{o.Metadata.NamespaceProperty}'");
        }

        _ = rendered.Silo;
        _ = rendered.Single<V1ServiceAccount>(RenderedOverlay.SiloName);
        _ = rendered.Single<V1Role>(RenderedOverlay.SiloName);
        _ = rendered.Single<V1RoleBinding>(RenderedOverlay.SiloName);
        _ = rendered.Single<V2HorizontalPodAutoscaler>(RenderedOverlay.SiloName);
        _ = rendered.Single<V1PodDisruptionBudget>(RenderedOverlay.SiloName);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void SiloDeployment_ListensOnTheSilosPortsWithTheWebPortBeyondLoopback(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);
        var ports = rendered.SiloContainer.Ports.ToDictionary(p => p.Name, p => p.ContainerPort);

        Assert.Equal(new Dictionary<string, int> { ["http"] = 8080, ["silo"] = SiloSettings.FirstSiloPort, ["gateway"] = SiloSettings.FirstGatewayPort }, ports);
        var urls = rendered.Env("Urls").Value;
        var exposure = WebExposure.From(Configuration(("urls", urls)));
        Assert.True(exposure.BeyondLoopback, $"Urls {urls} must reach beyond the pod's loopback for the probes and the Service");
        Assert.EndsWith($":{ports["http"]}", urls, StringComparison.Ordinal);
        Assert.Equal(ports["silo"].ToString(CultureInfo.InvariantCulture), rendered.Env("Silo__SiloPort").Value);
        Assert.Equal(ports["gateway"].ToString(CultureInfo.InvariantCulture), rendered.Env("Silo__GatewayPort").Value);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void SiloDeployment_GivesOrleansThePodFromTheDownwardApiAndTheClusterFromItsLabels(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);
        var labels = rendered.Silo.Spec.Template.Metadata.Labels;

        Assert.Equal("kubernetes", rendered.Env("Silo__Clustering").Value);
        Assert.Equal("redis", rendered.Env("Silo__Storage").Value);
        Assert.Equal("metadata.name", rendered.Env("POD_NAME").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.namespace", rendered.Env("POD_NAMESPACE").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("status.podIP", rendered.Env("POD_IP").ValueFrom.FieldRef.FieldPath);
        // Orleans' Kubernetes hosting selects its cluster's pods by these labels; the ids it joins with must be the same.
        Assert.Equal("metadata.labels['orleans/serviceId']", rendered.Env("ORLEANS_SERVICE_ID").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.labels['orleans/clusterId']", rendered.Env("ORLEANS_CLUSTER_ID").ValueFrom.FieldRef.FieldPath);
        Assert.False(string.IsNullOrWhiteSpace(labels["orleans/serviceId"]));
        Assert.False(string.IsNullOrWhiteSpace(labels["orleans/clusterId"]));
        Assert.All(SiloSettings.KubernetesVariables, name => rendered.Env(name));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void SiloDeployment_ConfigurationIsOneTheSiloAccepts(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);

        // The manifest's literal values, with what the downward API and the Secret would fill in.
        var settings = SiloSettings.From(Configuration([.. ResolvedEnvironment(rendered)]));

        Assert.Equal(ClusteringKind.Kubernetes, settings.Clustering);
        Assert.Equal(StorageKind.Redis, settings.Storage);
        Assert.Equal(rendered.Silo.Spec.Template.Metadata.Labels["orleans/clusterId"], settings.ClusterId);
        Assert.Equal(rendered.Silo.Spec.Template.Metadata.Labels["orleans/serviceId"], settings.ServiceId);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void SiloDeployment_ProbesAskTheSilosHealthEndpointsOnItsWebPort(string overlay)
    {
        var container = RenderedOverlay.Render(overlay).SiloContainer;

        Assert.Equal(HealthExtensions.Startup, container.StartupProbe.HttpGet.Path);
        Assert.Equal(HealthExtensions.Ready, container.ReadinessProbe.HttpGet.Path);
        Assert.Equal(HealthExtensions.Live, container.LivenessProbe.HttpGet.Path);
        foreach (var probe in new[] { container.StartupProbe, container.ReadinessProbe, container.LivenessProbe })
        {
            Assert.Equal("http", probe.HttpGet.Port.Value);
        }

        // The startup probe covers loading libtorch and joining: liveness cannot restart a silo that is still starting.
        Assert.True(container.StartupProbe.PeriodSeconds * container.StartupProbe.FailureThreshold >= 120,
            $"the startup probe gives up after {container.StartupProbe.PeriodSeconds * container.StartupProbe.FailureThreshold} s");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void SiloDeployment_RollsOutWithoutTakingASiloAwayFirst(string overlay)
    {
        var strategy = RenderedOverlay.Render(overlay).Silo.Spec.Strategy;

        Assert.Equal("RollingUpdate", strategy.Type);
        Assert.Equal("0", strategy.RollingUpdate.MaxUnavailable.Value);
        Assert.Equal("1", strategy.RollingUpdate.MaxSurge.Value);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void SiloDeployment_GracePeriod_IsLongerThanTheSilosShutdownTimeout(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);
        var shutdown = SiloSettings.From(Configuration([.. ResolvedEnvironment(rendered)])).ShutdownTimeout;

        var grace = rendered.Silo.Spec.Template.Spec.TerminationGracePeriodSeconds;

        Assert.NotNull(grace);
        Assert.True(grace > shutdown.TotalSeconds + 5, $"terminationGracePeriodSeconds {grace} must exceed the host's shutdown timeout {shutdown.TotalSeconds} s with room to spare");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void SiloDeployment_RunsAsANonRootUserWithResourceRequestsAndLimits(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);
        var pod = rendered.Silo.Spec.Template.Spec;
        var resources = rendered.SiloContainer.Resources;

        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.NotEqual(0, pod.SecurityContext.RunAsUser);
        Assert.False(rendered.SiloContainer.SecurityContext.AllowPrivilegeEscalation);
        foreach (var name in new[] { "cpu", "memory" })
        {
            var request = resources.Requests[name].ToDecimal();
            var limit = resources.Limits[name].ToDecimal();
            Assert.True(request > 0 && request <= limit, $"{name}: request {resources.Requests[name]} must be positive and within the limit {resources.Limits[name]}");
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Role_GrantsTheSilosServiceAccountThePodVerbsOfKubernetesHosting(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);
        var role = rendered.Single<V1Role>(RenderedOverlay.SiloName);
        var binding = rendered.Single<V1RoleBinding>(RenderedOverlay.SiloName);

        var rule = Assert.Single(role.Rules);
        Assert.Equal([""], rule.ApiGroups);
        Assert.Equal(["pods"], rule.Resources);
        Assert.Equal(["delete", "get", "list", "patch", "watch"], rule.Verbs.Order(StringComparer.Ordinal));
        Assert.Equal(("Role", role.Metadata.Name), (binding.RoleRef.Kind, binding.RoleRef.Name));
        var subject = Assert.Single(binding.Subjects);
        Assert.Equal(("ServiceAccount", rendered.Silo.Spec.Template.Spec.ServiceAccountName), (subject.Kind, subject.Name));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Services_SelectTheSiloPodsAndTargetItsWebAndGatewayPorts(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);
        var podLabels = rendered.Silo.Spec.Template.Metadata.Labels;
        var containerPorts = rendered.SiloContainer.Ports.Select(p => p.Name).ToHashSet();

        var web = rendered.Single<V1Service>("insidellms-web");
        var gateway = rendered.Single<V1Service>("insidellms-gateway");

        foreach (var service in new[] { web, gateway })
        {
            Assert.All(service.Spec.Selector, pair => Assert.Equal(pair.Value, podLabels[pair.Key]));
            Assert.All(service.Spec.Ports, port => Assert.Contains(port.TargetPort.Value, containerPorts));
            // Neither is exposed outside the cluster: the gateway has no authentication, the page goes through an Ingress.
            Assert.Equal("ClusterIP", service.Spec.Type);
        }

        Assert.Equal("http", Assert.Single(web.Spec.Ports).TargetPort.Value);
        Assert.Equal((SiloSettings.FirstGatewayPort, "gateway"), (Assert.Single(gateway.Spec.Ports).Port, gateway.Spec.Ports[0].TargetPort.Value));
        Assert.Equal(rendered.Silo.Spec.Selector.MatchLabels, rendered.Silo.Spec.Selector.MatchLabels.Where(p => podLabels[p.Key] == p.Value).ToDictionary());
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Autoscaler_ScalesTheSiloOnCpuAndScalesInSlowly(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);
        var hpa = rendered.Single<V2HorizontalPodAutoscaler>(RenderedOverlay.SiloName);

        Assert.Equal("autoscaling/v2", hpa.ApiVersion);
        Assert.Equal(("Deployment", RenderedOverlay.SiloName), (hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name));
        var metric = Assert.Single(hpa.Spec.Metrics);
        Assert.Equal(("Resource", "cpu", "Utilization"), (metric.Type, metric.Resource.Name, metric.Resource.Target.Type));
        Assert.InRange(metric.Resource.Target.AverageUtilization ?? 0, 1, 100);
        Assert.True(hpa.Spec.MinReplicas >= 2, "one silo alone has nothing to fail over to");
        Assert.True(hpa.Spec.MaxReplicas > hpa.Spec.MinReplicas);
        Assert.True(hpa.Spec.Behavior.ScaleDown.StabilizationWindowSeconds >= 300, $"scale-down window {hpa.Spec.Behavior.ScaleDown.StabilizationWindowSeconds} s");
        Assert.All(hpa.Spec.Behavior.ScaleDown.Policies, policy => Assert.Equal(("Pods", 1), (policy.Type, policy.Value)));
        Assert.Null(rendered.Silo.Spec.Replicas); // the autoscaler owns the count; a fixed one would fight it on every apply
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void DisruptionBudget_LetsOneSiloGoAtATime(string overlay)
    {
        var rendered = RenderedOverlay.Render(overlay);
        var pdb = rendered.Single<V1PodDisruptionBudget>(RenderedOverlay.SiloName);
        var podLabels = rendered.Silo.Spec.Template.Metadata.Labels;

        Assert.Equal("policy/v1", pdb.ApiVersion);
        Assert.Equal("1", pdb.Spec.MaxUnavailable.Value);
        Assert.All(pdb.Spec.Selector.MatchLabels, pair => Assert.Equal(pair.Value, podLabels[pair.Key]));
    }

    [Fact]
    public void Local_SecretsEveryContainerReferences_ExistWithTheirKeys()
    {
        var rendered = RenderedOverlay.Render("local");
        var secrets = rendered.All<V1Secret>().ToDictionary(s => s.Metadata.Name);
        var references = rendered.All<V1Deployment>()
            .SelectMany(d => d.Spec.Template.Spec.Containers.SelectMany(c => c.Env ?? []))
            .Where(e => e.ValueFrom?.SecretKeyRef is not null)
            .Select(e => e.ValueFrom.SecretKeyRef)
            .ToArray();

        Assert.NotEmpty(references);
        foreach (var reference in references)
        {
            Assert.True(secrets.TryGetValue(reference.Name, out var secret), $"no Secret '{reference.Name}' (rendered: {string.Join(", ", secrets.Keys)})");
            Assert.True(secret.Data.ContainsKey(reference.Key), $"Secret '{reference.Name}' has no key '{reference.Key}'");
        }

        var token = Encoding.UTF8.GetString(secrets[Assert.Single(references, r => r.Key == "Api__Token").Name].Data["Api__Token"]);
        Assert.True(token.Length >= ApiAccessExtensions.MinTokenLength, "the local token must pass the silo's own length check or the pods never start");
    }

    [Fact]
    public void Local_RedisAndRabbitMqRunInTheNamespaceWhereTheSecretPointsTheSilo()
    {
        var rendered = RenderedOverlay.Render("local");
        var secret = Assert.Single(rendered.All<V1Secret>());

        string Value(string key) => Encoding.UTF8.GetString(secret.Data[key]);

        foreach (var (service, port) in new[] { ("redis", 6379), ("rabbitmq", 5672) })
        {
            var found = rendered.Single<V1Service>(service);
            Assert.Equal(port, Assert.Single(found.Spec.Ports).Port);
            var backing = rendered.All<V1Deployment>().Single(d => found.Spec.Selector.All(p => d.Spec.Template.Metadata.Labels.TryGetValue(p.Key, out var v) && v == p.Value));
            Assert.NotEqual(RenderedOverlay.SiloName, backing.Metadata.Name);
        }

        Assert.Equal("redis:6379", Value("Redis__ConnectionString"));
        Assert.Equal("rabbitmq", Value("Bus__RabbitMq__Host"));
    }

    [Fact]
    public void Production_UsesExternalServicesAndASecretTheReadmeTellsTheOperatorToCreate()
    {
        var rendered = RenderedOverlay.Render("production");
        var keys = rendered.SiloContainer.Env.Where(e => e.ValueFrom?.SecretKeyRef is not null).Select(e => e.ValueFrom.SecretKeyRef).ToArray();

        Assert.Empty(rendered.All<V1Secret>()); // an apply never overwrites the operator's Secret
        Assert.DoesNotContain(rendered.All<V1Deployment>(), d => d.Metadata.Name is "redis" or "rabbitmq");
        Assert.All(keys, k => Assert.Equal(RenderedOverlay.SecretName, k.Name));
        var readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "README.md"));
        var command = CreateSecretCommand().Match(readme);
        Assert.True(command.Success, "README.md has no `kubectl -n insidellms create secret generic insidellms-secrets ...` command");
        Assert.All(keys, k => Assert.Contains($"--from-literal={k.Key}=", command.Value, StringComparison.Ordinal));
    }

    /// <summary>The silo container's environment as the pod would see it: literals as written, the rest filled in.</summary>
    private static IEnumerable<(string Key, string Value)> ResolvedEnvironment(RenderedOverlay rendered)
    {
        var labels = rendered.Silo.Spec.Template.Metadata.Labels;
        foreach (var variable in rendered.SiloContainer.Env)
        {
            var value = variable.Value ?? variable.ValueFrom switch
            {
                { FieldRef.FieldPath: "metadata.name" } => "insidellms-silo-5d9f7-x2k4q",
                { FieldRef.FieldPath: "metadata.namespace" } => RenderedOverlay.Namespace,
                { FieldRef.FieldPath: "status.podIP" } => "10.244.0.12",
                { FieldRef.FieldPath: var path } when LabelPath().Match(path) is { Success: true } label => labels[label.Groups[1].Value],
                { SecretKeyRef.Key: "Redis__ConnectionString" } => "redis.example:6379",
                { SecretKeyRef.Key: var key } => $"secret-value-of-{key}",
                _ => throw new InvalidOperationException($"the test cannot resolve {variable.Name}"),
            };
            yield return (variable.Name.Replace("__", ":", StringComparison.Ordinal), value);
        }
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) => new ConfigurationBuilder()
        .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
        .Build();

    [GeneratedRegex(@"^metadata\.labels\['([^']+)'\]$")]
    private static partial Regex LabelPath();

    [GeneratedRegex(@"kubectl -n insidellms create secret generic insidellms-secrets(?:[^\n]*\\\n)*[^\n]*")]
    private static partial Regex CreateSecretCommand();
}
