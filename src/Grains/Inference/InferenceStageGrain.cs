using System.Diagnostics;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using Orleans.Concurrency;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>
/// One stage of a version's inference pipeline: its slice of the model (loaded from the version on first use, and again
/// when the version is republished) and a KV cache per session. The maths runs on the silo's compute threads; the
/// grain is reentrant so that one session's wait on the next stage does not hold up another session here.
/// </summary>
[Reentrant]
public sealed class InferenceStageGrain(ComputeScheduler compute, ILocalSiloDetails silo, AdmissionOptions admission) : Grain, IInferenceStageGrain, IDisposable
{
    /// <summary>A session nobody has used for this long is dropped (its client went away without ending it).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(5);

    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private Loaded? _loaded;
    private Task? _loading;
    private long _forwards;

    private string Version => this.GetPrimaryKeyString().Split('/')[0];

    private int StageIndex => int.Parse(this.GetPrimaryKeyString().Split('/')[1], System.Globalization.CultureInfo.InvariantCulture);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(EvictIdle, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
        return Task.CompletedTask;
    }

    public async Task<TensorMessage> ForwardAsync(StageForward request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loaded = await LoadAsync(request.Revision);
        _forwards++;
        if (!_sessions.TryGetValue(request.Session, out var session))
        {
            if (request.Start != 0)
            {
                throw new InvalidOperationException(
                    $"Stage {this.GetPrimaryKeyString()} has no cache for session {request.Session} (it was evicted after {IdleTimeout.TotalMinutes} idle minutes, or the stage moved to another silo); start the generation again.");
            }

            if (StageIndex == 0 && _sessions.Count >= admission.MaxSessions)
            {
                // Every session starts on the first stage, so its count is the version's.
                throw new InvalidOperationException(
                    $"Version '{Version}' has {_sessions.Count} generation sessions open, its limit (Inference:MaxSessions); try again when one ends.");
            }

            session = new Session(new Owned<KvCache>(new KvCache(), $"session {request.Session}'s cache on stage {this.GetPrimaryKeyString()}", exclusive: true));
            _sessions.Add(request.Session, session);
        }

        if (session.Length != request.Start)
        {
            throw new InvalidOperationException(
                $"Stage {this.GetPrimaryKeyString()} holds {session.Length} positions of session {request.Session}, but the request starts at position {request.Start}.");
        }

        session.Busy = true;
        (byte[] Data, long[] Shape) output;
        try
        {
            // Both leases are held until the forward has run: a reload or the session's end meanwhile only retires them.
            (output, session.Length) = await compute.RunAsync(loaded.Model, session.Cache, (model, cache) => (Run(model, cache, request), cache.Length));
        }
        finally
        {
            session.Busy = false;
            session.LastUsed = Stopwatch.GetTimestamp();
        }

        if (loaded.Stage.IsLast)
        {
            return new TensorMessage(output.Data, output.Shape);
        }

        var next = GrainFactory.GetGrain<IInferenceStageGrain>(InferenceNames.StageKey(Version, StageIndex + 1));
        return await next.ForwardAsync(request with { Tokens = null, Hidden = new TensorMessage(output.Data, output.Shape) });
    }

    public async Task EndSessionAsync(string session)
    {
        if (_sessions.Remove(session, out var ended))
        {
            ended.Cache.Retire();
        }

        if (_loaded?.Info is { } info && StageIndex + 1 < info.Stages)
        {
            await GrainFactory.GetGrain<IInferenceStageGrain>(InferenceNames.StageKey(Version, StageIndex + 1)).EndSessionAsync(session);
        }
    }

    public async Task<InferenceStageInfo> DescribeAsync()
    {
        var info = await GrainFactory.GetGrain<IModelVersionGrain>(Version).GetInfoAsync();
        var loaded = await LoadAsync(info.Revision);
        var stage = loaded.Stage;
        return new InferenceStageInfo(
            this.GetPrimaryKeyString(), stage.Index, [.. Enumerable.Range(stage.FirstBlock, stage.BlockCount)], stage.IsFirst, stage.IsLast,
            loaded.ParameterCount, silo.SiloAddress.ToString(), _sessions.Count, _forwards);
    }

    /// <summary>The first stage takes token IDs (1, T); later ones hidden states (1, T, C). The last returns the last position's logits (V).</summary>
    internal static (byte[] Data, long[] Shape) Run(GptStage model, KvCache cache, StageForward request)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Tensor input;
        if (model.Stage.IsFirst)
        {
            var tokens = TokenBytes.To(request.Tokens ?? throw new ArgumentException("The first stage takes token IDs."));
            input = tensor(tokens, [1, tokens.Length], dtype: ScalarType.Int64); // (1, T)
        }
        else
        {
            var hidden = request.Hidden ?? throw new ArgumentException("A later stage takes the previous stage's hidden states.");
            input = TensorIO.FromBytes(hidden.Data, hidden.Shape); // (1, T, C)
        }

        var output = model.Forward(input, probe: null, cache);
        if (model.Stage.IsLast)
        {
            return (TensorIO.ToBytes(output[0, -1]), [output.shape[2]]); // (V)
        }

        return (TensorIO.ToBytes(output), output.shape); // (1, T, C)
    }

    private async Task<Loaded> LoadAsync(long revision)
    {
        while (_loaded is null || _loaded.Info.Revision != revision)
        {
            if (_loading is { } loading)
            {
                await loading; // another request is loading; check again afterwards
                continue;
            }

            _loading = ReloadAsync();
            try
            {
                await _loading;
            }
            finally
            {
                _loading = null;
            }

            if (_loaded!.Info.Revision != revision)
            {
                throw new InvalidOperationException(
                    $"Version '{Version}' was republished while this generation ran (revision {revision}, now {_loaded.Info.Revision}); start the generation again.");
            }
        }

        return _loaded;
    }

    private async Task ReloadAsync()
    {
        var version = GrainFactory.GetGrain<IModelVersionGrain>(Version);
        var info = await version.GetInfoAsync();
        var parameters = await version.GetStageParametersAsync(StageIndex);
        var config = TrainingRunSpecs.Model(info.Spec, info.VocabularySize);
        var stage = StageSpec.Partition(config, info.Stages)[StageIndex];
        // Forwards still running on the old weights or caches finish first: retiring only stops new ones.
        _loaded?.Model.Retire();
        _loaded = null;
        foreach (var session in _sessions.Values)
        {
            session.Cache.Retire(); // caches of the old weights mean nothing to the new ones
        }

        _sessions.Clear();
        var (model, count) = await compute.RunAsync(() =>
        {
            var built = InferenceModels.Build(config, stage, parameters);
            return (built, InferenceModels.ParameterCount(built));
        });
        // Shared: concurrent sessions run forwards on the same weights (eval mode, no_grad: nothing is written).
        _loaded = new Loaded(new Owned<GptStage>(model, $"stage {this.GetPrimaryKeyString()}'s weights (revision {info.Revision})", exclusive: false), stage, info, count);
    }

    private Task EvictIdle()
    {
        var idle = _sessions.Where(s => !s.Value.Busy && Stopwatch.GetElapsedTime(s.Value.LastUsed) > IdleTimeout).Select(s => s.Key).ToList();
        foreach (var key in idle)
        {
            _sessions.Remove(key, out var session);
            session!.Cache.Retire();
        }

        return Task.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var session in _sessions.Values)
        {
            session.Cache.Retire();
        }

        _sessions.Clear();
        _loaded?.Model.Retire();
    }

    private sealed record Loaded(Owned<GptStage> Model, StageSpec Stage, ModelVersionInfo Info, long ParameterCount);

    private sealed class Session(Owned<KvCache> cache)
    {
        public Owned<KvCache> Cache { get; } = cache;

        /// <summary>Positions the cache holds, as of the last forward (read without touching the native cache).</summary>
        public int Length { get; set; }

        public long LastUsed { get; set; } = Stopwatch.GetTimestamp();

        public bool Busy { get; set; }
    }
}
