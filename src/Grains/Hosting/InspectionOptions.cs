namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>How the inspector grains follow a run's live weights.</summary>
public sealed class InspectionOptions
{
    public const string Section = "Inspection";

    /// <summary>
    /// A <c>live:</c> inspector answers from the weights it holds and fetches newer ones in the background at most this
    /// often. Fetching the whole model from the stage grains waits behind their training calls (575 ms median measured
    /// during a (2,2,4) run), so doing it per request would make every view that slow.
    /// </summary>
    public double LiveRefreshSeconds { get; set; } = 2;
}
