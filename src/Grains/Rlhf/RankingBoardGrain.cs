using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>
/// The cluster's ranking tasks. Task n's prompt is instruction n of the built-in corpus's ranking stream (a seed of
/// its own, so ranking prompts are not the fine-tuning set's), and its K completions are sampled from the version at
/// <see cref="RlhfOptions.RankingTemperature"/> with seeds from n, through the inference grains.
/// </summary>
public sealed class RankingBoardGrain(
    [PersistentState("board", TrainingStorage.ProviderName)] IPersistentState<RankingBoardState> state,
    RlhfOptions options,
    RlhfClock clock) : Grain, IRankingBoardGrain
{
    /// <summary>The corpus seed of ranking prompts.</summary>
    public const long PromptSeed = 0x5EED_0008;

    public const int MaxTasksPerRequest = 100;

    /// <summary>How many of the newest tasks <see cref="NextTaskAsync"/> looks through before it makes a new one.</summary>
    private const int OpenTasksLookedAt = 50;

    private static readonly SyntheticCorpus Prompts = new(PromptSeed);

    public async Task<IReadOnlyList<RankingTaskInfo>> CreateTasksAsync(int count, int k, string version)
    {
        if (count is < 1 or > MaxTasksPerRequest)
        {
            throw new ArgumentException($"Create from 1 to {MaxTasksPerRequest} ranking tasks at a time; got {count}.");
        }

        RankingRules.CheckCompletionCount(k);
        ArgumentException.ThrowIfNullOrWhiteSpace(version);
        await GrainFactory.GetGrain<IModelVersionGrain>(version).GetInfoAsync(); // an unknown version fails here, before anything is stored
        var created = new List<RankingTaskInfo>();
        for (var i = 0; i < count; i++)
        {
            created.Add(await CreateTaskAsync(k, version));
        }

        return created;
    }

    public async Task<RankingTaskInfo> NextTaskAsync(string annotator, int k, string version)
    {
        RankingRules.CheckAnnotator(annotator);
        RankingRules.CheckCompletionCount(k);
        foreach (var id in state.State.TaskIds.AsEnumerable().Reverse().Take(OpenTasksLookedAt))
        {
            var task = GrainFactory.GetGrain<IRankingTaskGrain>(id);
            var view = await task.GetAsync();
            if (!view.Expired && view.Task.Completions.Count == k && view.Task.Version == version && !await task.HasRankedAsync(annotator))
            {
                return view.Task;
            }
        }

        return (await CreateTasksAsync(1, k, version))[0];
    }

    public Task<IReadOnlyList<string>> GetTaskIdsAsync() => Task.FromResult<IReadOnlyList<string>>([.. state.State.TaskIds]);

    public async Task<RankingSummary> GetSummaryAsync()
    {
        var views = await Task.WhenAll(state.State.TaskIds.Select(id => GrainFactory.GetGrain<IRankingTaskGrain>(id).GetAsync()));
        var several = views.Where(v => v.Agreement is not null).ToList();
        return new RankingSummary(
            views.Length,
            views.Count(v => !v.Expired),
            views.Sum(v => (long)v.Rankings),
            views.Sum(v => (long)v.Simulated),
            several.Count,
            several.Count == 0 ? null : several.Average(v => v.Agreement!.Value));
    }

    private async Task<RankingTaskInfo> CreateTaskAsync(int k, string version)
    {
        // The number is taken and stored first: a crash after it leaves a gap, never two tasks with one number.
        var number = state.State.NextTask++;
        await state.WriteStateAsync();
        var prompt = Prompts.Instruction(number).Instruction;
        var completions = new List<string>();
        for (var j = 0; j < k; j++)
        {
            completions.Add(await SampleAsync(version, prompt, DeterministicRandom.Mix(PromptSeed, number, j)));
        }

        var now = clock.UtcNow;
        var task = new RankingTaskInfo($"task-{number:D6}", prompt, completions, version, now, now + options.TaskLifetime);
        await GrainFactory.GetGrain<IRankingTaskGrain>(task.Id).CreateAsync(task);
        state.State.TaskIds.Add(task.Id);
        await state.WriteStateAsync();
        return task;
    }

    /// <summary>One completion: sampled at the ranking temperature until the end-of-document token, the context or the token limit.</summary>
    private async Task<string> SampleAsync(string version, string prompt, long seed)
    {
        var generation = GrainFactory.GetGrain<IGenerationGrain>($"{version}/{Guid.NewGuid():N}");
        var text = new System.Text.StringBuilder();
        await foreach (var token in generation.GenerateAsync(new GenerationRequest(prompt, Temperature: options.RankingTemperature, Seed: seed, MaxTokens: options.MaxCompletionTokens)))
        {
            if (token.ModelId == ModelVocabulary.EndOfDocument)
            {
                break;
            }

            text.Append(token.Text);
        }

        return text.ToString();
    }
}
