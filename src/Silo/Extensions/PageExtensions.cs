using InsideLLMs.Distributed.Silo.Page;
using InsideLLMs.Distributed.Silo.Training;
using MudBlazor.Services;
using Orleans.Dashboard;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// The walkthrough page at <c>/</c> (Blazor, interactive server rendering) and Orleans' dashboard at <c>/dashboard</c>.
/// The dashboard has no authentication of its own, so it is served on loopback only.
/// </summary>
public static class PageExtensions
{
    public static WebApplicationBuilder AddWalkthroughPage(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Package assets (_content/...) are served from the build output only with this outside Development.
        builder.WebHost.UseStaticWebAssets();
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddMudServices();
        builder.Services.Configure<DefaultRunOptions>(builder.Configuration.GetSection(DefaultRunOptions.Section));
        builder.Services.AddHostedService<DefaultRunStarter>();
        return builder;
    }

    public static WebApplication MapWalkthroughPage(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseAntiforgery();
        app.MapStaticAssets();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        if (!app.Services.GetRequiredService<WebExposure>().BeyondLoopback)
        {
            app.MapOrleansDashboard(routePrefix: "/dashboard");
        }

        return app;
    }
}
