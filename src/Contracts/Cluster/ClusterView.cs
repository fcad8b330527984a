namespace InsideLLMs.Distributed.Contracts.Cluster;

/// <summary>One snapshot of the cluster as Orleans' management grain sees it.</summary>
public sealed record ClusterView(IReadOnlyList<SiloView> Silos)
{
    /// <summary>Training grains are listed one by one (key and all); other grain types only as counts.</summary>
    public const string ApplicationNamespace = "InsideLLMs.";

    public static async Task<ClusterView> ReadAsync(IGrainFactory grains)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var management = grains.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetDetailedHosts(onlyActive: false);
        var active = hosts.Where(h => h.Status == SiloStatus.Active).Select(h => h.SiloAddress).ToArray();
        var counts = active.Length == 0 ? [] : await management.GetSimpleGrainStatistics(active);
        var detailed = active.Length == 0 ? [] : await management.GetDetailedGrainStatistics(null, active);

        var silos = hosts
            .OrderBy(h => h.SiloAddress.Endpoint.Port)
            .ThenBy(h => h.SiloAddress.Generation)
            .Select(h => new SiloView(
                h.SiloAddress.ToString(),
                h.SiloName,
                h.Status.ToString(),
                h.SiloAddress.Endpoint.ToString(),
                h.ProxyPort,
                h.StartTime,
                [.. counts.Where(c => c.SiloAddress.Equals(h.SiloAddress))
                    .GroupBy(c => ShortTypeName(c.GrainType))
                    .Select(g => new GrainCount(g.Key, g.Sum(c => c.ActivationCount)))
                    .OrderBy(c => c.GrainType, StringComparer.Ordinal)],
                [.. detailed.Where(d => d.SiloAddress.Equals(h.SiloAddress) && d.GrainType.StartsWith(ApplicationNamespace, StringComparison.Ordinal))
                    .Select(d => d.GrainId.ToString())
                    .Order(StringComparer.Ordinal)]))
            .ToList();
        return new ClusterView(silos);
    }

    /// <summary>"Namespace.TrainingRunGrain,Assembly" becomes "TrainingRunGrain".</summary>
    public static string ShortTypeName(string grainType)
    {
        ArgumentNullException.ThrowIfNull(grainType);
        var name = grainType.Split(',')[0];
        var generic = name.IndexOf('`', StringComparison.Ordinal);
        var dot = name.LastIndexOf('.', generic < 0 ? name.Length - 1 : generic);
        return dot < 0 ? name : name[(dot + 1)..];
    }
}

/// <param name="Address">Orleans' silo address (endpoint and generation).</param>
/// <param name="Grains">Activations per grain type.</param>
/// <param name="TrainingGrains">Ids of the application's grains on this silo, e.g. <c>trainingrun/default</c>.</param>
public sealed record SiloView(
    string Address,
    string Name,
    string Status,
    string Endpoint,
    int GatewayPort,
    DateTime StartTime,
    IReadOnlyList<GrainCount> Grains,
    IReadOnlyList<string> TrainingGrains);

public sealed record GrainCount(string GrainType, int Activations);
