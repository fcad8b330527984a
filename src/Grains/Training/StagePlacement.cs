using System.Globalization;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>
/// Spreads a run's stage grains over the silos: the stages are numbered replica by replica (stage s of replica r is
/// r x stages + s) and number n goes to silo n mod N of the compatible silos in address order. Orleans' default placement
/// prefers the caller's silo when load looks equal, so every stage of a run landed next to its run grain (measured: all
/// 4 stages of a 2x2 run on one of 3 silos), and a cluster of N silos trained with one silo's threads. Numbering every
/// stage (rather than, say, stage + replica) also gives a silo that joins a share when the run re-places its stages:
/// with P x R stages and at most P x R silos, every silo holds at least one.
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
    /// <summary>
    /// The silo the caller chose (<see cref="IPlacementDirector.PlacementHintKey"/>: the run, from its own view of the
    /// active silos), else <see cref="Choose"/> over this silo's compatible silos. The hint wins even over a silo this
    /// one does not list yet: a stage re-activated by a silo that had not yet taken in a newly joined one was placed as
    /// if it were not there (seen in the container test, three times in a row), and the run that asked had seen it.
    /// </summary>
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (target.RequestContextData is { } data && data.TryGetValue(IPlacementDirector.PlacementHintKey, out var hint) && hint is SiloAddress chosen)
        {
            return Task.FromResult(chosen);
        }

        return Task.FromResult(Choose(context.GetCompatibleSilos(target), target.GrainIdentity.Key.ToString()!));
    }

    /// <summary>The silo for a stage key among <paramref name="silos"/>: the same choice on every silo that sees the same members.</summary>
    internal static SiloAddress Choose(IReadOnlyList<SiloAddress> silos, string key)
    {
        var ordered = silos.OrderBy(s => s.Endpoint.Port).ThenBy(s => s.ToString(), StringComparer.Ordinal).ToArray();
        return ordered[SlotOf(key) % ordered.Length];
    }

    /// <summary>replica x stages + stage from a key "{run}/{replica}/{stage}-of-{stages}" (<see cref="RunLayout.StageKey"/>); 0 for any other key.</summary>
    internal static int SlotOf(string key)
    {
        var parts = key.Split('/');
        if (parts.Length < 3 || !int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out var replica))
        {
            return 0;
        }

        var position = parts[^1].Split("-of-");
        return position.Length == 2
            && int.TryParse(position[0], NumberStyles.None, CultureInfo.InvariantCulture, out var stage)
            && int.TryParse(position[1], NumberStyles.None, CultureInfo.InvariantCulture, out var stages)
            && stage < stages
            ? replica * stages + stage
            : 0;
    }
}
