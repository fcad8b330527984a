using InsideLLMs.Distributed.Contracts.Inference;
using Microsoft.AspNetCore.Components;

namespace InsideLLMs.Distributed.Silo.Page;

/// <summary>
/// A walkthrough section over one model: it reloads when the model changes (a new revision of the version, or new
/// live weights), shows what went wrong in words, and never blocks the page while the grains compute.
/// </summary>
public abstract class SectionBase : ComponentBase
{
    private (string? Source, long Revision) _loaded;

    /// <summary>A version name, or <c>live:{run}</c>.</summary>
    [Parameter] public string Source { get; set; } = "";

    [Parameter] public long Revision { get; set; }

    [Parameter] public string Provenance { get; set; } = "";

    [Inject] protected IGrainFactory Grains { get; set; } = default!;

    protected string? Error { get; private set; }

    protected bool Loading { get; private set; }

    protected IInspectorGrain Inspector => Grains.GetGrain<IInspectorGrain>(Source);

    /// <summary>Loads this section's numbers for <see cref="Source"/>.</summary>
    protected abstract Task LoadAsync();

    /// <summary>Whether the section reloads on every new revision (a live view) or only when asked.</summary>
    protected virtual bool FollowsRevisions => true;

    protected override async Task OnParametersSetAsync()
    {
        if (string.IsNullOrEmpty(Source) || Revision == 0)
        {
            return;
        }

        if (_loaded.Source == Source && (_loaded.Revision == Revision || !FollowsRevisions))
        {
            return;
        }

        _loaded = (Source, Revision);
        await RunAsync(LoadAsync);
    }

    /// <summary>Runs a load or an action, turning a refused input or a model not ready yet into a message.</summary>
    protected async Task RunAsync(Func<Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        Loading = true;
        try
        {
            await work();
            Error = null;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException or TimeoutException or OrleansException)
        {
            Error = e.Message;
        }
        finally
        {
            Loading = false;
        }
    }
}
