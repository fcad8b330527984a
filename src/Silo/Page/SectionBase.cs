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
    private string? _pinned;

    /// <summary>A version name, or <c>live:{run}</c>.</summary>
    [Parameter] public string Source { get; set; } = "";

    [Parameter] public long Revision { get; set; }

    [Parameter] public string Provenance { get; set; } = "";

    /// <summary>The token pinned across the page (its text, leading space included), or null.</summary>
    [Parameter] public string? Pinned { get; set; }

    [Parameter] public EventCallback<string?> PinnedChanged { get; set; }

    [Inject] protected IGrainFactory Grains { get; set; } = default!;

    protected string? Error { get; private set; }

    protected bool Loading { get; private set; }

    protected IInspectorGrain Inspector => Grains.GetGrain<IInspectorGrain>(Source);

    /// <summary>Pins a token for every section (its ID, embedding point, attention row, Q/K/V and probabilities).</summary>
    protected Task PinAsync(string? text) => PinnedChanged.InvokeAsync(text);

    protected bool IsPinned(string? text) => Pinned is not null && text == Pinned;

    /// <summary>The CSS class of a token's element: "pinned" when it is the pinned token.</summary>
    protected string PinClass(string? text) => IsPinned(text) ? "pinned" : "";

    /// <summary>Loads this section's numbers for <see cref="Source"/>.</summary>
    protected abstract Task LoadAsync();

    /// <summary>Whether the section reloads on every new revision (a live view) or only when asked.</summary>
    protected virtual bool FollowsRevisions => true;

    /// <summary>Called when another section pins a token (or the pin is cleared), after the model is loaded.</summary>
    protected virtual Task OnPinnedChangedAsync() => Task.CompletedTask;

    protected override async Task OnParametersSetAsync()
    {
        if (string.IsNullOrEmpty(Source) || Revision == 0)
        {
            return;
        }

        if (_pinned != Pinned && _loaded.Source is not null)
        {
            _pinned = Pinned;
            await RunAsync(OnPinnedChangedAsync);
        }

        _pinned = Pinned;

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
