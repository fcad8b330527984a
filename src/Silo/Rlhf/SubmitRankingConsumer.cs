using InsideLLMs.Distributed.Contracts.Rlhf;
using MassTransit;

namespace InsideLLMs.Distributed.Silo.Rlhf;

/// <summary>
/// Stores a ranking sent over the bus through its task grain. A refusal (unknown or expired task, a bad order) is
/// answered with <see cref="RankingRejected"/> and the message is done; a cluster that cannot answer yet (a silo
/// starting or lost) throws, so the message is retried and, if this silo dies first, redelivered to another: the task
/// grain's per-annotator check makes the redelivery store nothing twice.
/// </summary>
public sealed class SubmitRankingConsumer(IGrainFactory grains, ILogger<SubmitRankingConsumer> logger) : IConsumer<SubmitRanking>
{
    public async Task Consume(ConsumeContext<SubmitRanking> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var message = context.Message;
        try
        {
            await grains.GetGrain<IRankingTaskGrain>(message.TaskId).SubmitAsync(message.Annotator, message.Order, message.Simulated);
        }
        catch (ArgumentException e)
        {
            logger.LogInformation("Ranking of {Task} by {Annotator} over the bus refused: {Reason}", message.TaskId, message.Annotator, e.Message);
            await context.Publish(new RankingRejected(message.TaskId, message.Annotator, e.Message));
        }
    }
}

/// <summary>
/// The durable queue <c>submit-ranking</c>. A ranking the cluster cannot store yet is retried for about eight minutes
/// (100 tries, the wait growing to 5 s): membership takes tens of seconds to declare a lost silo dead, and a new
/// cluster's directory may briefly hold two activations of a task, whose stale one fails its write and deactivates.
/// Only after that does the message go to <c>submit-ranking_error</c>.
/// </summary>
public sealed class SubmitRankingConsumerDefinition : ConsumerDefinition<SubmitRankingConsumer>
{
    public SubmitRankingConsumerDefinition() => EndpointName = "submit-ranking";

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<SubmitRankingConsumer> consumerConfigurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        endpointConfigurator.UseMessageRetry(retry => retry.Exponential(100, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(200)));
    }
}
