using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// The probes an orchestrator asks: <see cref="Startup"/> (the host has started), <see cref="Ready"/> (Orleans'
/// membership lists this silo as Active and it is not stopping: send it traffic) and <see cref="Live"/> (the process
/// answers and the cluster has not declared it dead: do not restart it). Each answers 200 or 503 with
/// <c>{"status": "...", "description": "..."}</c>. None needs the API token. <c>/health</c> stays as the plain "the web
/// port answers" check.
/// </summary>
public static class HealthExtensions
{
    public const string Startup = "/health/startup";
    public const string Ready = "/health/ready";
    public const string Live = "/health/live";

    private const string StartupTag = "startup";
    private const string ReadyTag = "ready";
    private const string LiveTag = "live";

    public static WebApplicationBuilder AddSiloHealthChecks(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddHealthChecks()
            .AddCheck<HostStartedCheck>("host-started", tags: [StartupTag])
            .AddCheck<SiloActiveCheck>("silo-active", tags: [ReadyTag])
            .AddCheck<SiloNotDeadCheck>("silo-not-dead", tags: [LiveTag]);
        return builder;
    }

    public static WebApplication MapSiloHealthEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        app.MapHealthChecks(Startup, Tagged(StartupTag));
        app.MapHealthChecks(Ready, Tagged(ReadyTag));
        app.MapHealthChecks(Live, Tagged(LiveTag));
        return app;
    }

    private static HealthCheckOptions Tagged(string tag) => new()
    {
        Predicate = check => check.Tags.Contains(tag),
        ResponseWriter = WriteAsync,
    };

    private static Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json";
        var description = string.Join("; ", report.Entries.Values.Select(e => e.Description).OfType<string>());
        return http.Response.WriteAsync(JsonSerializer.Serialize(new { status = report.Status.ToString(), description }));
    }
}

/// <summary>Healthy once the host has started every service: the silo has joined and the web port listens.</summary>
internal sealed class HostStartedCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(lifetime.ApplicationStarted.IsCancellationRequested
            ? HealthCheckResult.Healthy("The host has started.")
            : HealthCheckResult.Unhealthy("The host is still starting."));
}

/// <summary>Healthy while Orleans' membership says this silo is Active and the host is not stopping.</summary>
internal sealed class SiloActiveCheck(IClusterMembershipService membership, ILocalSiloDetails silo, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        return Task.FromResult(
            lifetime.ApplicationStopping.IsCancellationRequested ? HealthCheckResult.Unhealthy($"The silo is stopping (membership: {status}).")
            : status == SiloStatus.Active ? HealthCheckResult.Healthy($"Silo {silo.SiloAddress} is Active in the cluster.")
            : HealthCheckResult.Unhealthy($"Silo {silo.SiloAddress} is {status} in the cluster, not Active."));
    }
}

/// <summary>
/// Unhealthy only once the cluster has declared this silo dead: a silo that is slow or still joining must not be
/// restarted for it, and one declared dead can never rejoin under the same identity.
/// </summary>
internal sealed class SiloNotDeadCheck(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Dead
            ? HealthCheckResult.Unhealthy($"The cluster has declared silo {silo.SiloAddress} dead.")
            : HealthCheckResult.Healthy($"Silo {silo.SiloAddress} is {status}."));
    }
}
