using System.Globalization;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>
/// Spreads a run's stage grains over the silos: stage s of replica r goes to silo (s + r) mod N of the compatible
/// silos in address order. Orleans' default placement prefers the caller's silo when load looks equal, so every stage
/// of a run landed next to its run grain (measured: all 4 stages of a 2x2 run on one of 3 silos), and a cluster of
/// N silos trained with one silo's threads.
/// </summary>
[GenerateSerializer, Immutable, Alias("StagePlacement")]
public sealed class StagePlacement : PlacementStrategy
{
    public static StagePlacement Instance { get; } = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class StagePlacementAttribute() : PlacementAttribute(StagePlacement.Instance);

public sealed class StagePlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var silos = context.GetCompatibleSilos(target).OrderBy(s => s.Endpoint.Port).ThenBy(s => s.ToString(), StringComparer.Ordinal).ToArray();
        return Task.FromResult(silos[SlotOf(target.GrainIdentity.Key.ToString()) % silos.Length]);
    }

    /// <summary>Stage + replica from a key "{run}/{replica}/{stage}"; 0 for any other key.</summary>
    internal static int SlotOf(string key)
    {
        var parts = key.Split('/');
        return parts.Length >= 3
            && int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out var replica)
            && int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var stage)
            ? replica + stage
            : 0;
    }
}
